"""The rows apply writes, for plans with every kind of operation, are exactly the recorded ones.

``apply_rows.json`` was recorded with apply as it was before first loads built their indexes
after the rows (:mod:`idpsync.store.deferred`); both ways must write the same rows.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from idpsync.engine.plan import Deprovision, OpKind, plan
from idpsync.model import DirectoryState, DirGroup, DirUser, MemberKind, Membership
from idpsync.store import Store, deferred
from idpsync.store import schema as t
from idpsync.store.apply import apply_plan

RECORDED = Path(__file__).with_name("apply_rows.json")
USER, GROUP = MemberKind.USER, MemberKind.GROUP


def _states() -> list[tuple[DirectoryState, Deprovision, dict[str, str], set[str]]]:
    """Four runs that between them use every kind of operation."""
    users = {
        "a": DirUser("a", "ada", email="ada@example.org", attributes={"dept": "R&D"}),
        "b": DirUser("b", "bob", email="bob@example.org", display_name="Bob"),
        "c": DirUser("c", "cy", active=False),
        "d": DirUser("d", "dee"),
        "e": DirUser("e", "eve", email="Eve@Example.org"),
    }
    groups = {g: DirGroup(g, f"Group {g}", description="d") for g in ("g1", "g2", "g3")}
    edges = {
        Membership("g1", "a", USER),
        Membership("g1", "b", USER),
        Membership("g2", "c", USER),
        Membership("g2", "g1", GROUP),
        Membership("g3", "d", USER),
        Membership("g1", "g3", GROUP),
    }
    first = DirectoryState(users, groups, edges)
    second = DirectoryState(
        {
            "a": DirUser("a", "ada", email="ada@example.org", display_name="Ada L."),
            "c": DirUser("c", "cy"),
            "e": DirUser("e", "eve", email="Eve@Example.org"),
            "f": DirUser("f", "dee"),
        },
        {"g1": DirGroup("g1", "Group One"), "g2": groups["g2"]},
        {Membership("g1", "a", USER), Membership("g2", "g1", GROUP), Membership("g2", "e", USER)},
    )
    third = DirectoryState(
        {k: v for k, v in second.users.items() if k != "e"}, second.groups, set()
    )
    fourth = DirectoryState(
        {**third.users, "c": DirUser("c", "removed-c", active=False)}, second.groups, set()
    )
    return [
        (first, "delete", {}, set()),
        (second, "delete", {"f": "d"}, set()),
        (third, "deactivate", {}, set()),
        (fourth, "anonymise", {}, {"c"}),
    ]


def _apply_all(store: Store) -> set[OpKind]:
    kinds: set[OpKind] = set()
    for desired, mode, relinks, anonymised in _states():
        run_id = store.start_run("hr", "full", False)
        with store.transaction() as conn:
            store.ensure_connector(conn, "hr", "file")
            current = store.load_directory(conn, "hr")
            p = plan(desired, current, deprovision=mode, relinks=relinks, anonymised=anonymised)
            apply_plan(store, conn, "hr", run_id, p)
        kinds |= {op.kind for op in p.ops}
    return kinds


def _value(value: Any) -> Any:
    return value is not None if isinstance(value, datetime) else value


def _rows(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Every row apply wrote (timestamps as whether they are set; run ids as written)."""
    tables = {
        t.users: t.users.c.id,
        t.groups: t.groups.c.id,
        t.memberships: t.memberships.c.id,
        t.changes: t.changes.c.seq,
    }
    with store.engine.connect() as conn:
        return {
            table.name: [
                {k: _value(v) for k, v in row._mapping.items()}
                for row in conn.execute(sa.select(table).order_by(order))
            ]
            for table, order in tables.items()
        }


@pytest.mark.parametrize("defer", [False, True])
def test_apply_writes_the_recorded_rows(
    store: Store, defer: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deferred, "MIN_ROWS", 1 if defer else 10**9)
    kinds = _apply_all(store)
    assert kinds == set(OpKind)
    rows = json.loads(json.dumps(_rows(store), default=str))
    assert rows == json.loads(RECORDED.read_text(encoding="utf-8"))
    with store.engine.connect() as conn:
        names = {
            i["name"]
            for table in ("memberships", "changes")
            for i in sa.inspect(conn).get_indexes(table)
        }
    assert {"ix_memberships_member_kind_member_id", "ix_changes_run_id"} <= names


def record() -> None:  # pragma: no cover - run by hand to record the rows of a known-good apply
    """``python -m tests.store.test_apply_rows``: write ``apply_rows.json`` from a SQLite store."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{tmp}/directory.db")
        _apply_all(store)
        rows = _rows(store)
        store.close()
    RECORDED.write_text(json.dumps(rows, default=str, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":  # pragma: no cover
    record()
