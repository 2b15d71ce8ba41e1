"""``explain``: each step's verdict for the usual reasons someone is (not) synced; no run."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from idpsync.app.explain import explain_live, explain_person
from idpsync.config import LoadedConfig, Settings, TargetSettings
from idpsync.config_policy import PolicySettings
from idpsync.engine.explain import EXIT_NOT_SYNCED, EXIT_OK, EXIT_UNKNOWN, Explanation
from idpsync.engine.policy import evaluate, scope_rule
from idpsync.model import MemberKind, Membership, Snapshot, SourceGroup, SourceUser
from idpsync.sources.file.reader import FileSource
from idpsync.store import Store
from idpsync.targets.state import FailureKey, TargetState, last_seq
from tests.world import World, add_local_user, person


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    w = World(tmp_path / "people.json", store)
    w.users = [
        person("u1", "ada"),
        person("u2", "bob", active=False),
        person("u3", "eve"),
        person("u4", "chloe", display_name="Chloé Dupont"),
    ]
    w.groups = [
        {"id": "g1", "name": "Eng", "members": ["u1", "u2", "u4"]},
        {"id": "g2", "name": "Ops", "members": ["u3"]},
    ]
    w.policy = {"required_groups": ["Eng"]}
    return w


def loaded(world: World, **targets: Any) -> LoadedConfig:
    settings = Settings(
        connectors={"hr": world.settings()},
        targets={k: TargetSettings.model_validate(v) for k, v in targets.items()},
    )
    return LoadedConfig(settings, world.path.parent / "idpsync.toml")


def explain(world: World, person_key: str, **targets: Any) -> Explanation:
    return explain_person(loaded(world, **targets), world.store, "hr", person_key)


def verdicts(result: Explanation) -> dict[str, bool | None]:
    return {s.key: s.ok for s in result.steps}


def step(result: Explanation, key: str) -> Any:
    return next(s for s in result.steps if s.key == key)


def test_in_scope_user_passes_every_step(world: World) -> None:
    world.sync()
    result = explain(world, "ADA@example.org")
    assert result.matched_by == "e-mail" and result.source_id == "u1"
    assert verdicts(result) == {
        "found": True,
        "scope": True,
        "match": True,
        "plan": True,
        "targets": None,
    }
    assert "required group 'Eng'" in step(result, "scope").verdict
    assert "already matches" in step(result, "plan").verdict
    assert "run 1" in dict(step(result, "found").facts)["read"]
    assert result.exit_code == EXIT_OK and result.directory_id is not None


def test_excluded_by_group_rule(world: World) -> None:
    world.sync()
    result = explain(world, "u3")
    assert result.matched_by == "IdP id"
    assert verdicts(result) == {
        "found": True,
        "scope": False,
        "match": None,
        "plan": False,
        "targets": None,
    }
    assert "not a member of a required group (Eng)" in step(result, "scope").verdict
    assert result.exit_code == EXIT_NOT_SYNCED


def test_inactive_user_is_in_scope_and_deactivated(world: World) -> None:
    world.users[1]["active"] = True
    world.sync()
    world.users[1]["active"] = False
    world.write()
    asyncio.run(_stage(world))
    result = explain(world, "bob")
    assert verdicts(result)["scope"] is True
    assert "disabled in the IdP" in dict(step(result, "scope").facts)["inactive"]
    plan = step(result, "plan")
    assert plan.ok is False and "deactivated (disabled in the IdP)" in plan.verdict
    assert plan.lines == ["user.deactivate bob: disabled in the IdP"]


async def _stage(world: World) -> None:
    """Stage the IdP's current document without applying anything (as a refused run would)."""
    snap = await FileSource(world.path).snapshot()
    with world.store.transaction() as conn:
        world.store.write_stage(conn, "hr", snap, 1)


def test_collision_with_a_local_user(world: World) -> None:
    add_local_user(world.store, "Chloe")
    world.sync()
    result = explain(world, "chloé dupont")
    assert result.matched_by == "display name"
    assert verdicts(result) == {
        "found": True,
        "scope": True,
        "match": False,
        "plan": False,
        "targets": None,
    }
    match = step(result, "match")
    assert "already belongs to a local user" in match.verdict
    assert match.facts == [("held by", "local user Chloe (directory user 1)")]


def test_not_in_the_idp_any_more_and_unknown_people(world: World) -> None:
    world.policy = {"grace_runs": 3}
    world.sync()
    world.users = world.users[1:]  # ada left the IdP
    world.groups[0]["members"].remove("u1")
    assert world.sync().status == "succeeded"
    result = explain(world, "ada")
    assert result.matched_by == "login (directory)"
    assert verdicts(result)["found"] is False and verdicts(result)["scope"] is None
    assert "grace period" in step(result, "plan").verdict
    nobody = explain(world, "adda")
    assert nobody.exit_code == EXIT_UNKNOWN and not nobody.steps
    assert ("ada (ada@example.org, IdP id u1)", "u1") in nobody.near


def test_new_user_is_created_by_the_next_run(world: World) -> None:
    world.sync()
    world.users.append(person("u5", "dan"))
    world.groups[0]["members"].append("u5")
    world.write()
    asyncio.run(_stage(world))
    result = explain(world, "dan")
    assert step(result, "match").verdict == "no directory user yet: the next run creates dan"
    assert step(result, "plan").lines == [
        "user.create dan: new in the IdP",
        "member.add Eng ← dan: member in the IdP",
    ]


def test_explain_writes_no_run_and_changes_nothing(world: World) -> None:
    world.sync()
    before = (world.store.runs(limit=1000), world.dump())
    for key in ("ada", "bob", "eve", "chloe", "nobody"):
        explain(world, key)
    assert (world.store.runs(limit=1000), world.dump()) == before


def test_targets_pending_delivered_and_rejected(world: World) -> None:
    world.sync()
    scim = {"app": {"type": "scim", "url": "https://scim.example.org/v2"}}
    pending = step(explain(world, "ada", **scim), "targets")
    assert pending.ok is None and "pending — 1 change(s)" in pending.lines[0]
    assert "never ran" in pending.lines[0]
    state = TargetState(world.store, "app")
    state.row()
    state.update(status="down", last_error="connection refused")
    down = step(explain(world, "ada", **scim), "targets")
    assert down.ok is False and "the target is down (connection refused)" in down.lines[0]
    state.update(status="ok", last_error=None)
    state.update(cursor=last_seq(world.store))
    state.set_remote_id("user", "hr", "u1", "remote-1")
    delivered = step(explain(world, "ada", **scim), "targets")
    assert delivered.ok is True and "delivered as remote-1" in delivered.lines[0]
    state.record_failure(FailureKey("user", "hr", "u1"), 1, "user.update", "409 taken", 1, 2)
    rejected = step(explain(world, "ada", **scim), "targets")
    assert rejected.ok is False and "rejected — user.update: 409 taken" in rejected.lines[0]


def test_live_reads_the_idp_first_without_a_run(world: World) -> None:
    world.sync()
    world.groups[0]["members"].remove("u1")  # in the IdP now, not yet staged
    world.write()
    runs = world.store.runs(limit=1000)
    staged = explain(world, "ada")
    live = asyncio.run(
        explain_live(loaded(world), world.store, "hr", "ada", FileSource(world.path))
    )
    assert staged.exit_code == EXIT_OK and live.live
    assert dict(step(live, "found").facts)["read"] == "just now, from the IdP (--live)"
    assert verdicts(live)["scope"] is False
    assert world.store.runs(limit=1000) == runs


def test_live_when_the_idp_no_longer_knows_them(world: World) -> None:
    world.sync()
    world.users = [u for u in world.users if u["id"] != "u1"]
    world.groups[0]["members"].remove("u1")
    world.write()
    live = asyncio.run(
        explain_live(loaded(world), world.store, "hr", "ada", FileSource(world.path))
    )
    assert live.live and live.matched_by == "login (directory)"
    assert verdicts(live)["found"] is False
    assert step(live, "plan").lines == ["user.deactivate ada: missing from the IdP"]


def test_scope_rule_names_the_rule_without_deciding() -> None:
    snap = Snapshot(
        [SourceUser("u1", "ada", attributes={"dept": "R&D"})],
        [SourceGroup("g1", "All"), SourceGroup("g2", "Eng")],
        [Membership("g1", "g2", MemberKind.GROUP), Membership("g2", "u1")],
    )
    policy = PolicySettings.model_validate(
        {
            "required_groups": ["all"],
            "transitive": True,
            "user_filters": [
                {"action": "include", "field": "attributes.dept", "op": "equals", "value": "r&d"},
                {"action": "exclude", "field": "login", "op": "equals", "value": "bob"},
            ],
        }
    )
    assert "u1" in evaluate(snap, policy).desired.users
    assert scope_rule(snap, policy, "u1") == (
        "member of required group 'all' through nested groups (transitive); "
        "matches include filter #1 (attributes.dept equals); matches no exclude filter"
    )
