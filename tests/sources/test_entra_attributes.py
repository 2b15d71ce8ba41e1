"""Entra: HR properties always, extension attributes by setting or template, same request count."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import pytest

from idpsync.config_policy import MappingSettings, PolicySettings
from idpsync.emulators.entra import EntraEmulator
from idpsync.emulators.entra.render import EXTENSION_APP
from idpsync.http import set_testing
from idpsync.store import Store
from tests.sources.entra_support import EntraWorld, full_snapshot_requests

BADGE = f"extension_{EXTENSION_APP}_badge"


@pytest.fixture(autouse=True)
def _no_waits() -> None:
    set_testing(True)


def _emulator() -> EntraEmulator:
    emu = EntraEmulator.generate(users=150, groups=20, seed=4)
    for n, uid in enumerate(emu.tenant.user_ids[:10]):
        emu.tenant.update_user(
            uid, employee_id=f"E{n}", employee_type="Contractor", company="Acme", office="Oslo",
            cost_center=f"CC-{n}", division="R&D",
            custom={"x": {"badge": f"B-{n}", "extensionAttribute3": f"ext-{n}"}},
        )  # fmt: skip
    return emu


def _world(tmp_path: Path, emu: EntraEmulator, **kw: object) -> EntraWorld:
    return EntraWorld(emu, Store.open(f"sqlite:///{tmp_path / 'd.db'}"), **kw)  # type: ignore[arg-type]


async def test_hr_properties_are_read_by_default_at_the_same_cost(tmp_path: Path) -> None:
    emu = _emulator()
    world = _world(tmp_path, emu)
    result = await world.sync(mode="full")
    assert result.status == "succeeded"
    users = world.directory().users
    first = users[emu.tenant.user_ids[0]].attributes
    assert first["employeeId"] == "E0" and first["employeeType"] == "Contractor"
    assert first["companyName"] == "Acme" and first["officeLocation"] == "Oslo"
    assert first["employeeOrgData"] == {"division": "R&D", "costCenter": "CC-0"}
    assert BADGE not in first and "onPremisesExtensionAttributes" not in first
    assert len(emu.requests) == full_snapshot_requests(emu, managers=True, photos=False)


async def test_extension_attributes_by_setting(tmp_path: Path) -> None:
    emu = _emulator()
    options = {"user_attributes": [BADGE, "onPremisesExtensionAttributes"]}
    world = _world(tmp_path, emu, options=options)
    result = await world.sync(mode="full")
    assert result.status == "succeeded"
    users = world.directory().users
    first, plain = users[emu.tenant.user_ids[0]], users[emu.tenant.user_ids[20]]
    assert first.attributes[BADGE] == "B-0"
    assert first.attributes["onPremisesExtensionAttributes"]["extensionAttribute3"] == "ext-0"
    assert BADGE not in plain.attributes  # Graph leaves out an extension without a value
    assert len(emu.requests) == full_snapshot_requests(emu, managers=True, photos=False)
    logs = [*emu.requests, *emu.batched]  # the pages ride in batches
    queries = [unquote(r.query) for r in logs if r.path == "/v1.0/users"]
    listings = [q for q in queries if "$count" not in q]
    assert len(listings) == 2  # 150 users, 100 a page with the manager expanded
    assert all(BADGE in q and "onPremisesExtensionAttributes" in q for q in listings)


async def test_a_template_naming_an_extension_selects_it(tmp_path: Path) -> None:
    emu = _emulator()
    mapping = MappingSettings(attributes={"badge": "{{ attributes." + BADGE + " }}"})
    world = _world(tmp_path, emu, policy=PolicySettings(mapping=mapping))
    assert (await world.sync(mode="full")).status == "succeeded"
    users = world.directory().users
    assert users[emu.tenant.user_ids[4]].attributes["badge"] == "B-4"


async def test_changed_properties_make_the_next_run_a_full_read(tmp_path: Path) -> None:
    emu = _emulator()
    world = _world(tmp_path, emu)
    assert (await world.sync(mode="full")).status == "succeeded"
    state = world.state()
    assert world.source().wants_full(state) is False
    world.options = {"user_attributes": [BADGE]}
    assert world.source().wants_full(state) is True
    assert world.source().wants_full({**state, "users_delta_select": None}) is True


def test_setting_rejects_names_that_are_not_properties() -> None:
    emu = EntraEmulator.generate(users=3, groups=1)
    with pytest.raises(ValueError, match="user_attributes"):
        EntraWorld(emu, Store.open("sqlite://"), options={"user_attributes": ["a,b"]}).settings()
