"""Property tests: scoping and mapping never touch unowned objects; a guarded run changes
nothing; planning again after applying gives nothing (SQLite, generated worlds)."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idpsync.config import ConnectorSettings
from idpsync.engine.decide import decide
from idpsync.engine.plan import apply_ops
from idpsync.model import DirectoryState, MemberKind, Membership, Snapshot, SourceGroup, SourceUser
from tests.strategies import GROUP_NAMES, LOGINS, POLICIES
from tests.world import person, seeded, unowned


@st.composite
def idp(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(0, 8))
    users = [
        person(
            f"u{i}",
            draw(LOGINS) or "x",
            active=draw(st.booleans()),
            attributes={"kind": draw(st.sampled_from(["staff", "guest", ""]))},
        )
        for i in range(count)
    ]
    for user in users:
        if not user["login"].strip():
            user["login"] = "blank"
    ids = [u["id"] for u in users]
    groups = []
    for gi in range(draw(st.integers(0, 4))):
        groups.append(
            {
                "id": f"g{gi}",
                "name": draw(GROUP_NAMES),
                "members": draw(st.lists(st.sampled_from(ids), unique=True)) if ids else [],
            }
        )
    return {"users": users, "groups": groups}


PROPERTY = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(first=idp(), second=idp(), policy=POLICIES, allow=st.booleans())
def test_scoping_and_mapping_never_change_unowned_objects(
    first: dict[str, Any], second: dict[str, Any], policy: dict[str, Any], allow: bool
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store, world = seeded(Path(folder))
        try:
            before = unowned(store)
            world.policy = policy
            for state in (first, second):
                world.users, world.groups = state["users"], state["groups"]
                assert world.sync(allow_deletes=allow).status in ("succeeded", "guarded")
                assert unowned(store) == before
        finally:
            store.close()


@PROPERTY
@given(first=idp(), second=idp(), policy=POLICIES)
def test_a_guarded_run_changes_nothing(
    first: dict[str, Any], second: dict[str, Any], policy: dict[str, Any]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store, world = seeded(Path(folder))
        try:
            world.policy = policy
            world.users, world.groups = first["users"], first["groups"]
            world.sync(allow_deletes=True)
            before = world.dump()
            world.guard = {
                "max_deactivate_share": 0,
                "min_deactivations_for_share": 1,
                "max_snapshot_shrink": 0,
                "min_snapshot_shrink_count": 1,
            }
            world.users, world.groups = second["users"], second["groups"]
            result = world.sync()
            if result.status == "guarded":
                assert world.dump() == before
            else:
                counts = result.summary()
                assert not counts["users_deactivated"] + counts["users_deleted"]
                assert not counts["users_anonymised"]
        finally:
            store.close()


def snapshot_of(state: dict[str, Any]) -> Snapshot:
    users = [
        SourceUser(
            u["id"], u["login"], email=u["email"], active=u["active"], attributes=u["attributes"]
        )
        for u in state["users"]
    ]
    groups = [SourceGroup(g["id"], g["name"]) for g in state["groups"]]
    edges = [Membership(g["id"], m, MemberKind.USER) for g in state["groups"] for m in g["members"]]
    return Snapshot(users, groups, edges)


@settings(max_examples=150, deadline=None)
@given(first=idp(), second=idp(), policy=POLICIES)
def test_planning_again_after_applying_is_empty(
    first: dict[str, Any], second: dict[str, Any], policy: dict[str, Any]
) -> None:
    connector = ConnectorSettings.model_validate(
        {"source": {"type": "file", "path": "x.json"}, "policy": {**policy, "grace_runs": 0}}
    )
    now = datetime.now(UTC)
    state = DirectoryState()
    for snap in (snapshot_of(first), snapshot_of(second)):
        decision = decide(snap, connector, state, connector="hr", now=now)
        state = apply_ops(state, decision.plan.ops)
        again = decide(snap, connector, state, connector="hr", now=now)
        assert not again.plan.ops, again.plan.ops
