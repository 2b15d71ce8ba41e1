"""Okta → Entra ID: an Okta emulator synced as ``okta``, an Entra emulator staged as its shadow.

The Entra tenant holds Okta's people under new ids and a new domain: a few with a new e-mail
(found by their HR number, which Okta calls ``employeeNumber`` and Entra ``employeeId``), one
gone, one whose e-mail two Entra accounts share, and a newcomer. Both connectors run through
real syncs; the comparison then sorts everybody out.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from idpsync.app.compare import Ambiguity, compare, mapper_for
from idpsync.app.runner import run_sync
from idpsync.config import ConnectorSettings, GuardSettings
from idpsync.config_policy import MappingSettings, PolicySettings
from idpsync.emulators.entra import EntraEmulator
from idpsync.emulators.tenant import Tenant, TenantGroup, TenantUser
from idpsync.http import set_testing
from idpsync.sources.okta.settings import OktaSourceSettings
from idpsync.store import Store
from idpsync.store import schema as t
from tests.migration.test_shadow import dump
from tests.sources import okta_support
from tests.sources.entra_support import EntraWorld

LENIENT = GuardSettings(max_deactivate_share=1.0, max_snapshot_shrink=1.0)
HR_NUMBER = "attributes.profile.employeeNumber=attributes.employeeId"


@pytest.fixture(autouse=True)
def no_waits() -> Iterator[None]:
    set_testing(True)
    yield
    set_testing(False)


def entra_copy(okta: Tenant) -> tuple[Tenant, dict[str, list[TenantUser]]]:
    """Okta's people in a new Entra tenant, with the differences described above."""
    tenant = Tenant(str(uuid.UUID(int=0x24)), "contoso.test")
    people = [u for u in okta.users.values() if not u.guest and u.employee_id and u.mail]
    renamed, gone, shared = people[:3], people[3], people[4]
    users = []
    for u in okta.users.values():
        if u is gone:
            continue
        mail = f"{u.alias}.new@contoso.test" if u in renamed else (u.mail or okta.login(u))
        new_id = str(uuid.uuid5(uuid.NAMESPACE_URL, u.id))
        users.append(replace(u, id=new_id, mail=mail, manager_id=None, photo_version=0))
    twin = TenantUser(
        str(uuid.UUID(int=0x2401)), f"{shared.alias}2", "Twin", None, None, shared.mail,
        employee_id="X-1",
    )  # fmt: skip
    newcomer = TenantUser(
        str(uuid.UUID(int=0x2402)), "newcomer", "New Comer", "New", "Comer",
        "newcomer@contoso.test", employee_id="E-NEW",
    )  # fmt: skip
    users += [twin, newcomer]
    group = TenantGroup(str(uuid.UUID(int=0x2403)), "Everyone", members={u.id: None for u in users})
    tenant.load(users, [group], [])
    return tenant, {"renamed": renamed, "gone": [gone], "shared": [shared], "twin": [twin]}


async def test_okta_directory_against_an_entra_shadow(store: Store) -> None:
    okta = okta_support.emulator(users=40, groups=4, seed=24)
    okta_settings = ConnectorSettings(
        source=OktaSourceSettings(
            type="okta", base_url=okta_support.ORG, api_token=SecretStr(okta.api_token)
        ),
        guard=LENIENT,
    )
    result = await run_sync(store, "okta", okta_settings, okta_support.source(okta))
    assert result.status == "succeeded", result.message

    tenant, who = entra_copy(okta.tenant)
    policy = PolicySettings(
        mapping=MappingSettings(attributes={"employeeId": "{{ attributes.employeeId }}"})
    )
    world = EntraWorld(EntraEmulator(tenant), store, policy=policy)
    entra_settings = world.settings().model_copy(update={"shadow_of": "okta"})
    before = dump(store)
    source = world.source()
    try:
        shadow = await run_sync(store, "entra", entra_settings, source)
    finally:
        await source.aclose()
    assert shadow.status == "succeeded", shadow.message
    assert shadow.message.startswith("shadow of okta: staged 41 users, 1 groups")
    assert dump(store) == before  # the directory, the change log and the targets untouched

    keys = ["email", HR_NUMBER]
    result_ = compare(store, "okta", "entra", keys, mapper=mapper_for(entra_settings))
    with store.read() as conn:
        ids = dict(
            conn.execute(
                sa.select(t.users.c.source_id, t.users.c.id).where(t.users.c.connector == "okta")
            ).all()
        )
    matched = {m.old_user_id: m for m in result_.matched}
    for person in who["renamed"]:
        m = matched[ids[person.id]]
        assert m.key == HR_NUMBER
        assert m.new_source_id == str(uuid.uuid5(uuid.NAMESPACE_URL, person.id))
        assert any(d.field == "email" for d in m.differences)
    assert result_.only_old == [ids[who["gone"][0].id]]
    assert result_.only_new == [str(uuid.UUID(int=0x2402))]
    shared, twin = who["shared"][0], who["twin"][0]
    assert result_.ambiguous == [
        Ambiguity(
            "email",
            shared.mail.lower() if shared.mail else "",
            (ids[shared.id],),
            tuple(sorted((str(uuid.uuid5(uuid.NAMESPACE_URL, shared.id)), twin.id))),
        )
    ]
    assert len(result_.matched) == len(ids) - 2
    by_email = [m for m in result_.matched if m.key == "email"]
    assert len(by_email) == len(ids) - 5
    logins = [d for m in by_email for d in m.differences if d.field == "login"]
    members = [d for d in logins if "#EXT#" not in str(d.old)]  # guests: Entra's own form
    assert members and all(str(d.new).endswith("@contoso.test") for d in members)
