"""One test per pitfall of peers-and-pitfalls.md §(b) that applies to a pull sync.

Not here, because they concern the HTTP layer or the IdP connectors rather than the policy:
6 (rate limits), 13 (delta-query gaps: every run here is a full reconciliation), 14 (the
deleted-user API quirks of one IdP) and 15 (alerting).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from idpsync.app.runner import run_sync
from idpsync.engine.plan import OpKind
from idpsync.model import Snapshot
from idpsync.sources.base import Progress, no_progress
from idpsync.sources.file.reader import FileSource
from idpsync.store import Store
from tests.world import World, add_local_group, add_local_user, person


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    return World(tmp_path / "people.json", store)


def staff(count: int) -> list[dict[str, object]]:
    return [person(f"u{i}", f"user{i}") for i in range(count)]


def test_pitfall_01_empty_read_never_mass_deletes(world: World) -> None:
    world.users = staff(30)
    assert world.sync().status == "succeeded"
    world.users = []
    before = world.dump()
    refused = world.sync()
    assert refused.status == "guarded"
    assert "no users at all" in refused.message
    assert "30 users" in refused.message and "--allow-deletes" in refused.message
    assert world.dump() == before
    world.users = staff(30)[:5]  # a truncated read: 83 % fewer users
    refused = world.sync()
    assert refused.status == "guarded" and "fewer" in refused.message
    assert world.dump() == before
    confirmed = world.sync(allow_deletes=True)
    assert confirmed.status == "succeeded"
    assert sum(1 for r in world.rows().values() if not r["active"]) == 25


def test_pitfall_02_never_deletes_objects_it_did_not_create(
    world: World, store: Store, tmp_path: Path
) -> None:
    add_local_user(store, "breakglass", "breakglass@example.org")
    add_local_group(store, "local-admins")
    other = World(tmp_path / "other.json", store, name="contractors", users=[person("c1", "carl")])
    other.sync()
    world.policy = {"deprovision": "delete"}
    world.users = staff(3)
    world.sync()
    world.users = []
    assert world.sync(allow_deletes=True).status == "succeeded"
    rows = world.rows()
    assert set(rows) == {"breakglass", "carl"}
    assert rows["breakglass"]["active"] and rows["carl"]["active"]
    assert world.group_names() == {"local-admins": None}


def test_pitfall_03_local_memberships_survive_sync(world: World, store: Store) -> None:
    world.policy = {"remove_memberships": True}
    world.users = [person("u1", "ada"), person("u2", "bob")]
    world.groups = [{"id": "g1", "name": "Eng", "members": ["u1", "u2"]}]
    world.sync()
    ada = world.rows()["ada"]["id"]
    local = add_local_user(store, "ops")
    add_local_group(store, "jira-admins", [ada])
    # an administrator puts a local user into the synced group, too
    from idpsync.store import schema as t
    from idpsync.store.store import now

    with store.transaction() as conn:
        eng = conn.execute(t.groups.select().where(t.groups.c.name == "Eng")).one().id
        conn.execute(
            t.memberships.insert().values(
                connector=None, group_id=eng, member_kind="user", member_id=local, created_at=now()
            )
        )
    world.groups = [{"id": "g1", "name": "Eng", "members": ["u2"]}]
    world.users = [person("u2", "bob")]  # ada leaves: deactivated, synced memberships removed
    assert world.sync().status == "succeeded"
    assert world.members("jira-admins") == {"ada"}
    assert world.members("Eng") == {"bob", "ops"}


def test_pitfall_04_nested_groups_follow_transitive_setting(world: World) -> None:
    world.users = [person("u1", "ada"), person("u2", "bob"), person("u3", "eve")]
    world.groups = [
        {"id": "g-app", "name": "App users", "members": ["u1"], "subgroups": ["g-team"]},
        {"id": "g-team", "name": "Team", "members": ["u2"], "subgroups": ["g-sub"]},
        {"id": "g-sub", "name": "Sub", "members": ["u3"]},
    ]
    world.policy = {"required_groups": ["App users"]}
    world.sync()
    assert set(world.rows()) == {"ada"}
    world.policy = {"required_groups": ["app USERS"], "transitive": True}
    world.sync()
    assert {k for k, r in world.rows().items() if r["active"]} == {"ada", "bob", "eve"}
    assert world.members("Team") == {"bob"}


class TruncatedSource(FileSource):
    """The file source, but only the first page made it: the read is incomplete."""

    async def snapshot(self, progress: Progress = no_progress) -> Snapshot:
        snap = await super().snapshot(progress)
        snap.users = snap.users[:2]
        snap.memberships = [
            m for m in snap.memberships if m.member_id in {u.source_id for u in snap.users}
        ]
        snap.mark_incomplete("users: page 2 failed with HTTP 500")
        return snap


def test_pitfall_05_truncated_read_never_removes(world: World) -> None:
    world.users = staff(10)
    world.groups = [{"id": "g1", "name": "All", "members": [f"u{i}" for i in range(10)]}]
    world.sync()
    world.users[0]["display_name"] = "Renamed"
    world.write()
    result = asyncio.run(
        run_sync(world.store, world.name, world.settings(), TruncatedSource(world.path))
    )
    assert result.status == "partial" and not result.complete
    assert not [
        op
        for op in result.plan.ops
        if op.kind
        in (OpKind.DEACTIVATE_USER, OpKind.DELETE_USER, OpKind.REMOVE_MEMBER, OpKind.DELETE_GROUP)
    ]
    assert all(r["active"] for r in world.rows().values())
    assert world.rows()["user0"]["display_name"] == "Renamed"
    assert len(world.members("All")) == 10


def test_pitfall_07_identifier_change_is_an_update(world: World) -> None:
    world.users = [person("u1", "ada")]
    world.sync()
    row = world.rows()["ada"]
    world.users = [{**person("u1", "ada"), "email": "ada.lovelace@example.org"}]
    result = world.sync()
    assert result.status == "succeeded"
    assert [op.kind for op in result.plan.ops] == [OpKind.UPDATE_USER]
    after = world.rows()["ada"]
    assert after["id"] == row["id"] and after["email"] == "ada.lovelace@example.org"


def test_pitfall_08_rename_is_update_not_delete_create(world: World) -> None:
    world.users = [person("u1", "ada")]
    world.groups = [{"id": "g1", "name": "Eng", "members": ["u1"]}]
    world.sync()
    before = world.rows()["ada"]["id"]
    world.users = [person("u1", "ada.king")]
    world.groups = [{"id": "g1", "name": "Engineering", "members": ["u1"]}]
    result = world.sync()
    assert sorted(op.kind for op in result.plan.ops) == [OpKind.UPDATE_GROUP, OpKind.UPDATE_USER]
    assert world.rows()["ada.king"]["id"] == before
    assert world.members("Engineering") == {"ada.king"}


def test_pitfall_09_case_duplicates(world: World, store: Store) -> None:
    add_local_user(store, "Root")
    world.users = [
        person("u1", "Ada.Lovelace"),
        person("u2", "ada.lovelace"),
        person("u3", "ｒｏｏｔ"),
        person("u4", "bob"),
    ]
    result = world.sync()
    assert set(world.rows()) == {"Root", "bob"}
    skipped = {s["source_id"]: s["reason"] for s in result.details["skipped"]}
    assert set(skipped) == {"u1", "u2", "u3"}
    assert "also computed for IdP user(s) u2" in skipped["u1"]
    assert "a local user" in skipped["u3"]
    # the directory already holds one of the two: that one keeps it, the newcomer is skipped
    world.users = [person("u1", "Ada.Lovelace")]
    world.sync()
    world.users = [
        person("u1", "Ada.Lovelace"),
        {**person("u2", "ADA.LOVELACE"), "email": "other@example.org"},
    ]
    result = world.sync()
    assert [s["source_id"] for s in result.details["skipped"]] == ["u2"]
    assert world.rows()["Ada.Lovelace"]["active"]


def test_pitfall_10_group_name_collisions(world: World, store: Store) -> None:
    add_local_group(store, "admins")
    world.users = [person("u1", "ada")]
    world.groups = [
        {"id": "g-a", "name": "Team", "members": ["u1"]},
        {"id": "g-b", "name": "team", "members": ["u1"]},
        {"id": "g-c", "name": "Admins", "members": ["u1"]},
        {"id": "g-d", "name": "Eng", "members": ["u1"]},
    ]
    result = world.sync()
    assert world.group_names() == {"admins": None, "Eng": "hr"}
    reasons = {s["source_id"]: s["reason"] for s in result.details["skipped"]}
    assert set(reasons) == {"g-a", "g-b", "g-c"}
    assert "a local group" in reasons["g-c"]
    assert world.members("admins") == set()
    # renaming resolves it explicitly
    world.policy = {"groups": {"rename": [{"match": "team", "replace": "team-a"}]}}
    world.groups[1]["name"] = "team-b"
    world.sync()
    assert {"team-a", "team-b"} <= set(world.group_names())


def test_pitfall_11_local_deactivation_not_undone(world: World, store: Store) -> None:
    from idpsync.store.local import set_locally_disabled

    world.users = [person("u1", "ada"), person("u2", "bob")]
    world.sync()
    set_locally_disabled(store, "ADA", disabled=True)
    assert not world.rows()["ada"]["active"]
    world.users[0]["display_name"] = "Ada L."
    result = world.sync()
    ada = world.rows()["ada"]
    assert not ada["active"] and ada["locally_disabled"] and ada["display_name"] == "Ada L."
    assert not result.plan.count(OpKind.REACTIVATE_USER)
    assert result.details["kept_inactive"][0]["source_id"] == "u1"
    set_locally_disabled(store, "ada", disabled=False)
    world.sync()
    assert world.rows()["ada"]["active"]


def test_pitfall_12_deleted_then_recreated_no_churn(world: World) -> None:
    world.users = [person("u1", "ada"), person("u2", "bob")]
    world.groups = [{"id": "g1", "name": "Eng", "members": ["u1"]}]
    world.sync()
    row = world.rows()["ada"]
    world.users = [person("u1-new", "ada"), person("u2", "bob")]
    world.groups = [{"id": "g1", "name": "Eng", "members": ["u1-new"]}]
    first = world.sync()
    assert first.details["skipped"][0]["source_id"] == "u1-new"
    assert "relink_recreated" in first.details["skipped"][0]["reason"]
    for _ in range(2):  # no churn: the same report, no changes
        again = world.sync()
        assert not again.plan and again.details["skipped"] == first.details["skipped"]
    world.policy = {"relink_recreated": True}
    relinked = world.sync()
    kinds = [op.kind for op in relinked.plan.ops]
    assert OpKind.RELINK_USER in kinds and OpKind.DELETE_USER not in kinds
    after = world.rows()["ada"]
    assert after["id"] == row["id"] and after["source_id"] == "u1-new" and after["active"]
    assert world.members("Eng") == {"ada"}
    assert not world.sync().plan


def test_pitfall_09_email_case_duplicates(world: World, store: Store) -> None:
    add_local_user(store, "root", "Root@Example.org")
    world.users = [
        {**person("u1", "ada"), "email": "Shared@Example.org"},
        {**person("u2", "ada-admin"), "email": "shared@example.ORG"},
        {**person("u3", "rooty"), "email": "root@example.org"},
        person("u4", "bob"),
    ]
    result = world.sync()
    assert set(world.rows()) == {"root", "bob"}
    reasons = {s["source_id"]: s["reason"] for s in result.details["skipped"]}
    assert "email 'Shared@Example.org' is also computed for IdP user(s) u2" in reasons["u1"]
    assert "already belongs to a local user" in reasons["u3"]
    world.policy = {"unique_emails": False}
    world.sync()
    assert set(world.rows()) == {"root", "bob", "ada", "ada-admin", "rooty"}
