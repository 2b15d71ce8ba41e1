"""Properties of revert and invariants (generated IdP worlds and policies).

- Any planned run, applied and then compensated from its change-log rows, gives back the state
  before it when nothing else changed (pure, many examples).
- Any run in the store followed by its revert leaves the connector's directory and everything
  else as before (SQLite, fewer examples).
- A run refused by an invariant changes nothing.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from idpsync.app.reverting import revert_run
from idpsync.config import ConnectorSettings
from idpsync.engine.decide import decide
from idpsync.engine.plan import OpKind, apply_ops
from idpsync.engine.report import op_entry
from idpsync.engine.revert import compensate
from idpsync.model import DirectoryState
from idpsync.store import Store
from tests.strategies import POLICIES
from tests.test_properties import PROPERTY, idp, snapshot_of
from tests.world import seeded, unowned


def log_rows(ops: list[Any]) -> list[dict[str, Any]]:
    """What the change log holds for ``ops`` (JSON round trip, as the store returns it)."""
    rows = []
    for op in ops:
        entry = op_entry(op)
        rows.append(
            {
                "op": entry["op"],
                "object_type": op.object_type,
                "source_id": entry["source_id"],
                "object_key": entry["key"],
                "before": json.loads(json.dumps(entry["before"], default=str)),
                "after": json.loads(json.dumps(entry["after"], default=str)),
            }
        )
    return rows


@settings(max_examples=150, deadline=None)
@given(first=idp(), second=idp(), policy=POLICIES)
def test_applying_then_compensating_gives_the_state_back(
    first: dict[str, Any], second: dict[str, Any], policy: dict[str, Any]
) -> None:
    connector = ConnectorSettings.model_validate(
        {"source": {"type": "file", "path": "x.json"}, "policy": {**policy, "grace_runs": 0}}
    )
    now = datetime.now(UTC)
    start = apply_ops(
        DirectoryState(), decide(snapshot_of(first), connector, DirectoryState(), now=now).plan.ops
    )
    plan = decide(snapshot_of(second), connector, start, connector="hr", now=now).plan
    assume(not plan.count(OpKind.RELINK_USER))
    after = apply_ops(start, plan.ops)
    undo = compensate(log_rows(plan.ops), after)
    assert not undo.conflicts
    assert apply_ops(after, undo.plan.ops) == start
    again = compensate(log_rows(plan.ops), start, set())
    assert apply_ops(start, again.plan.ops) == start  # every change conflicts or is a no-op


def hr_directory(store: Store) -> DirectoryState:
    with store.engine.connect() as conn:
        return store.load_directory(conn, "hr")


@PROPERTY
@given(first=idp(), second=idp(), policy=POLICIES)
def test_a_run_followed_by_its_revert_leaves_the_store_as_before(
    first: dict[str, Any], second: dict[str, Any], policy: dict[str, Any]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store, world = seeded(Path(folder))
        try:
            world.policy = {**policy, "relink_recreated": False}
            world.users, world.groups = first["users"], first["groups"]
            world.sync(allow_deletes=True)
            before, others = hr_directory(store), unowned(store)
            world.users, world.groups = second["users"], second["groups"]
            run = world.sync(allow_deletes=True)
            assert run.status == "succeeded"
            if not run.plan:
                return
            undone = revert_run(store, run.run_id, world.settings(), allow_deletes=True)
            assert undone.status == "succeeded", undone.message
            assert not undone.conflicts
            assert hr_directory(store) == before
            assert unowned(store) == others
        finally:
            store.close()


INVARIANTS = st.lists(
    st.sampled_from(
        [
            {"name": "few", "group": "eng", "max_members": 1},
            {"name": "within", "group": "admins", "members_within": "Ops"},
            {"name": "no-guests", "no_active_where": {"attributes.kind": "guest"}},
            {"name": "mail", "active_email_suffix": "@example.org"},
        ]
    ),
    min_size=1,
    max_size=4,
    unique_by=lambda i: str(i["name"]),
)


@PROPERTY
@given(first=idp(), second=idp(), policy=POLICIES, rules=INVARIANTS)
def test_a_run_refused_by_an_invariant_changes_nothing(
    first: dict[str, Any], second: dict[str, Any], policy: dict[str, Any], rules: list[Any]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store, world = seeded(Path(folder))
        try:
            world.policy = policy
            world.users, world.groups = first["users"], first["groups"]
            world.sync(allow_deletes=True)
            before = world.dump()
            plain = world.settings

            def with_rules() -> ConnectorSettings:
                return plain().model_copy(update={"invariants": _parsed(rules)})

            world.settings = with_rules  # type: ignore[method-assign]
            world.users, world.groups = second["users"], second["groups"]
            result = world.sync(allow_deletes=True)
            if result.status == "guarded":
                assert "--allow-invariant" in result.message
                assert world.dump() == before
            else:
                assert result.status == "succeeded"
        finally:
            store.close()


def _parsed(rules: list[Any]) -> list[Any]:
    from idpsync.config_invariants import InvariantSettings

    return [InvariantSettings.model_validate(r) for r in rules]
