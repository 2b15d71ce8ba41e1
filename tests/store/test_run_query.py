"""The run browser's queries: search, operation and outcome filters, paging, exports, diffs.

On SQLite and PostgreSQL, for an applied run (change log), a dry run (``run_objects``) and a
run recorded before ``run_objects`` existed (everything in ``runs.report``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from idpsync.store import Store
from idpsync.store import schema as t
from idpsync.store.run_query import RunFilter, changed_fields, page, stream
from tests.world import World, person


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    w = World(tmp_path / "idp.json", store)
    w.users = [person(f"u{i:02}") for i in range(30)]
    w.users[3] = person("u03", "ciaran", display_name="Ciarán O'Brien")
    w.users[4] = person("u04", "eve", attributes={"department": "Sales"})
    w.groups = [{"id": "g1", "name": "Engineering", "members": ["u01", "u03"]}]
    w.policy = {
        "user_filters": [
            {
                "action": "exclude",
                "field": "attributes.department",
                "op": "equals",
                "value": "Sales",
            }
        ]
    }
    return w


def _run(store: Store, run_id: int) -> dict[str, Any]:
    row = store.run(run_id)
    assert row is not None
    return row


def _keys(entries: list[dict[str, Any]]) -> list[str]:
    return [e["key"] for e in entries]


def test_applied_run_pages_filters_and_searches(world: World) -> None:
    row = _run(world.store, world.sync().run_id)
    first = page(world.store, row, RunFilter(), 10, 0)
    assert first.total == 29 + 1 + 2  # users (eve out of scope), the group, two memberships
    assert len(first.entries) == 10
    rest = page(world.store, row, RunFilter(), 50, 10).entries
    assert len(rest) == 22 and not {e["seq"] for e in rest} & {e["seq"] for e in first.entries}
    assert first.ops == {"user.create": 29, "group.create": 1, "member.add": 2}
    assert first.outcomes == {"changed": 32, "out_of_scope": 1}

    users = page(world.store, row, RunFilter.of(None, ["user.create"], None), 100, 0)
    assert users.total == 29 and {e["op"] for e in users.entries} == {"user.create"}

    found = page(world.store, row, RunFilter.of("ciarán", None, None), 100, 0)
    assert _keys(found.entries) == ["ciaran", "Engineering ← ciaran"]  # name, and membership
    by_mail = page(world.store, row, RunFilter.of("CIARAN@example", None, None), 100, 0)
    assert _keys(by_mail.entries) == ["ciaran", "Engineering ← ciaran"]
    group = page(world.store, row, RunFilter.of("engineer", ["group.create"], None), 100, 0)
    assert _keys(group.entries) == ["Engineering"]
    assert page(world.store, row, RunFilter.of("50%_", None, None), 10, 0).total == 0

    out = page(world.store, row, RunFilter.of(None, None, "out_of_scope"), 10, 0)
    assert [(e["key"], e["reason"]) for e in out.entries] == [
        ("eve", "excluded by user filter #1 (attributes.department equals)")
    ]
    assert [e["key"] for e in stream(world.store, row, RunFilter.of("eve", None, None))] == []


def test_dry_run_reads_planned_changes_and_streams_in_batches(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.sync()
    world.users[3]["display_name"] = "Ciarán Ó Briain"
    world.users = world.users[:-5]
    world.guard = {"max_deactivate_share": 1, "max_snapshot_shrink": 1}
    result = world.sync(dry_run=True)
    assert result.status == "dry_run"
    row = _run(world.store, result.run_id)
    assert "planned" not in row["report"]  # kept in run_objects, not in one JSON document
    shown = page(world.store, row, RunFilter(), 100, 0)
    assert shown.ops == {"user.update": 1, "user.deactivate": 5}
    assert {e["outcome"] for e in shown.entries} == {"planned"}
    update = page(world.store, row, RunFilter.of(None, ["user.update"], None), 10, 0).entries[0]
    assert changed_fields(update) == [("display_name", "Ciarán O'Brien", "Ciarán Ó Briain")]
    monkeypatch.setattr("idpsync.store.run_query.BATCH", 2)
    streamed = list(stream(world.store, row, RunFilter.of(None, ["user.deactivate"], None)))
    assert _keys(streamed) == [f"u{i}" for i in range(25, 30)]


def test_runs_before_run_objects_are_read_from_the_report(world: World) -> None:
    result = world.sync(dry_run=True)
    planned = [
        e for e in page(world.store, _run(world.store, result.run_id), RunFilter(), 99, 0).entries
    ]
    with world.store.transaction() as conn:
        conn.execute(sa.delete(t.run_objects))
        stored = {
            "planned": [
                {k: e[k] for k in ("op", "source_id", "key", "reason", "before", "after")}
                for e in planned
            ],
            "skipped": [{"type": "user", "source_id": "x1", "key": "zoë", "reason": "bad login"}],
        }
        conn.execute(sa.update(t.runs).where(t.runs.c.id == result.run_id).values(report=stored))
    row = _run(world.store, result.run_id)
    again = page(world.store, row, RunFilter.of("CIARAN", None, None), 10, 0)
    assert _keys(again.entries) == ["ciaran", "Engineering ← ciaran"]
    named = page(world.store, row, RunFilter.of("Ciarán O'B", None, None), 10, 0)
    assert _keys(named.entries) == ["ciaran"]
    assert again.outcomes == {"changed": 2}
    skipped = page(world.store, row, RunFilter.of(None, None, "skipped"), 10, 0)
    assert [(e["key"], e["reason"]) for e in skipped.entries] == [("zoë", "bad login")]


def test_filter_refuses_unknown_values() -> None:
    with pytest.raises(ValueError, match=r"unknown operation 'user\.explode'"):
        RunFilter.of(None, ["user.explode"], None)
    with pytest.raises(ValueError, match="unknown outcome"):
        RunFilter.of(None, None, "vanished")


def test_changed_fields_show_only_what_changed() -> None:
    entry = {
        "object_type": "user",
        "before": {"display_name": "O'Brien", "groups": ["a"], "email": None},
        "after": {"display_name": "O’Brien", "groups": ["a", "ü"], "email": ""},
    }
    assert changed_fields(entry) == [
        ("display_name", "O'Brien", "O’Brien"),
        ("groups", '["a"]', '["a", "ü"]'),
    ]
    assert changed_fields({"object_type": "member", "before": None, "after": {"g": 1}}) == []
