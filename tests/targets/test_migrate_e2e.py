"""Okta → Entra handover end to end, with a SCIM target (scim2-server) and an LDAP target
(slapd): the targets see updates only for the people handed over, undo puts everything back,
and the new connector's next run changes nothing for them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from idpsync.app import checks
from idpsync.app.migrate_undo import undo_migration
from idpsync.app.migrating import migrate
from idpsync.store import Store
from tests.targets.migrate_support import KEYS, Orgs, deliver_both
from tests.targets.scim_support import ScimServer, read_scim
from tests.targets.slapd_support import Slapd
from tests.targets.test_ldap_target import read_ldap


def targets(scim: ScimServer, slapd: Slapd) -> dict[str, Any]:
    held = read_scim(scim.url)
    return {"scim": {k: held[k] for k in ("users", "groups")}, "ldap": read_ldap(slapd)}


def scim_external_ids(scim: ScimServer) -> dict[str, str]:
    return {u["userName"]: u.get("externalId") for u in read_scim(scim.url)["raw_users"]}


async def handover(store: Store, orgs: Orgs, scim: ScimServer, slapd: Slapd) -> None:
    """Migrate with confirmed leavers, deliver: nothing created or deleted in the targets."""
    okta, entra = orgs.okta_settings(), orgs.entra_world(store).settings()
    dry = migrate(store, "okta", "entra", okta, entra, KEYS)
    assert dry.status == "dry_run", dry.message
    assert {m.old_id: m.new_id for m in dry.users} == orgs.same
    done = migrate(
        store, "okta", "entra", okta, entra, KEYS, apply=True, confirm_leavers=len(dry.leavers)
    )
    assert done.status == "succeeded", done.message
    assert len(done.groups) == 5
    assert await deliver_both(store, scim.url, slapd.url) == (0, 0)


async def run(store: Store, scim: ScimServer, slapd: Slapd, people: int) -> None:
    orgs = Orgs(people)
    await orgs.sync_okta(store)
    assert (await deliver_both(store, scim.url, slapd.url))[0] > 0
    before = targets(scim, slapd)
    await orgs.shadow_entra(store)

    await handover(store, orgs, scim, slapd)
    after = targets(scim, slapd)
    assert after["scim"]["groups"] == before["scim"]["groups"]  # memberships unchanged
    assert after["ldap"]["groups"] == before["ldap"]["groups"]
    renamed = {f"p{i}@corp.example" for i in range(people - 3) if i % 10 == 3 and i % 20 != 7}
    for login in renamed:  # the new IdP's address arrived as an update
        assert after["scim"]["users"][login][0] == login.replace("@", ".renamed@")
    assert set(after["scim"]["users"]) == set(before["scim"]["users"])
    ids = scim_external_ids(scim)
    assert ids["p0@corp.example"] == orgs.same["00u00000"]

    undone = undo_migration(store, "okta", "entra")
    assert undone.status == "succeeded", undone.message
    assert await deliver_both(store, scim.url, slapd.url) == (0, 0)
    assert targets(scim, slapd) == before
    assert scim_external_ids(scim)["p0@corp.example"] == "00u00000"

    await handover(store, orgs, scim, slapd)  # a second handover after the undo
    world = orgs.entra_world(store)
    nxt = await world.sync()
    assert nxt.status == "succeeded", nxt.message
    matched = set(orgs.same.values())
    assert not [op for op in nxt.plan.ops if op.source_id in matched and op.member is None]
    assert not [op for op in nxt.plan.ops if op.member and op.member.member_id in matched]
    creates, deletes = await deliver_both(store, scim.url, slapd.url)
    assert deletes == 0 and creates <= 2 * len(orgs.only_new)


async def test_handover_with_targets(
    sqlite_store: Store, scim_server: ScimServer, slapd: Slapd
) -> None:
    await run(sqlite_store, scim_server, slapd, 100)


@pytest.mark.slow
@pytest.mark.parametrize("store", ["postgres"], indirect=True)
async def test_handover_past_one_batch_of_people(
    store: Store, scim_server: ScimServer, slapd: Slapd, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More matched people than one ``IN`` batch holds (``app.checks.batches``), on
    PostgreSQL; SQLite runs the same handover above. The batch is cut from 500 to 16 so three
    batches and a partial one cost 60 people, not 560 (a 73 s test)."""
    whole = checks.batches
    sizes: list[int] = []

    def small(items: list[str], size: int = 500) -> Iterator[list[str]]:
        for chunk in whole(items, 16):
            sizes.append(len(chunk))
            yield chunk

    monkeypatch.setattr(checks, "batches", small)
    assert len(Orgs(60).same) > 3 * 16
    await run(store, scim_server, slapd, 60)
    assert sizes.count(16) >= 3 and any(0 < n < 16 for n in sizes)
