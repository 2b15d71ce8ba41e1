"""A complete read's edges compared by member digest (``store/edge_digests.py``).

Staged by digest, only the edges of the members whose digest changed are loaded and diffed;
what is staged and the :class:`StageChange` reported must be exactly what diffing every edge
gives, over any sequence of complete, incomplete, skipping and delta reads, on SQLite and
PostgreSQL: edges moved between groups, users removed, edges repeated, nested groups, and the
change bound passed or not.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idpsync.app.delta import as_staged_delta
from idpsync.model import MemberKind, Membership, Snapshot, SourceGroup, SourceUser
from idpsync.sources.base import DeltaResult
from idpsync.store import Store, digest_diff, edge_digests, stage, stage_edges
from idpsync.store import stage_sql as q
from idpsync.store.stage import StageChange
from tests.store.test_stage_delta_property import deltas, edges, group_records, user_records
from tests.store.test_stage_sql import stage_of

_names = itertools.count()


@st.composite
def reads(draw: st.DrawFn) -> Snapshot | DeltaResult:
    """A complete read (most often), an incomplete one, one that skips a record, or a delta."""
    kind = draw(
        st.sampled_from(["complete", "complete", "complete", "incomplete", "skip", "delta"])
    )
    if kind == "delta":
        return draw(deltas)
    snap = Snapshot(
        draw(st.lists(user_records, max_size=6)),
        draw(st.lists(group_records, max_size=4)),
        draw(st.lists(edges, max_size=14)),  # repeats and dangling ids included
        complete=kind != "incomplete",
    )
    if kind == "skip":
        snap.skip("user", "u1", "u1", "unusable")
    return snap


def _write(
    store: Store, connector: str, read: Snapshot | DeltaResult, run_id: int, digests: bool
) -> StageChange | None:
    edge_digests.ENABLED = digests
    try:
        with store.transaction() as conn:
            snap = as_staged_delta(read) if isinstance(read, DeltaResult) else read
            return store.write_stage(conn, connector, snap, run_id)
    finally:
        edge_digests.ENABLED = True


def _digests(store: Store, connector: str) -> dict[str, str]:
    c = edge_digests.source_edge_digests.c
    with store.read() as conn:
        query = sa.select(c.member_id, c.digest).where(c.connector == connector)
        return {member: digest for member, digest in conn.execute(query)}


def _comparable(change: StageChange | None, ordered: bool) -> Any:
    if change is None:
        return None
    added = change.added if ordered else sorted(change.added)
    return (change.users, change.groups, added, change.removed, change.large)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sequence=st.lists(st.tuples(reads(), st.integers(-1, 3)), min_size=1, max_size=6),
    floor=st.sampled_from([1000, 2]),
)
def test_staging_by_member_digest_equals_diffing_every_edge(
    store: Store, monkeypatch: pytest.MonkeyPatch, sequence: list[Any], floor: int
) -> None:
    """``sequence``: reads, each with how many of the previous read's edges to drop before
    its own (-1: none kept), so that most members' edges are read again as they were."""
    monkeypatch.setattr(stage, "CHANGE_FLOOR", floor)  # 2: the bound is passed, or not
    plain, digested = f"p{next(_names)}", f"d{next(_names)}"
    with store.transaction() as conn:
        for name in (plain, digested):
            store.ensure_connector(conn, name, "file")
    ordered = store.engine.dialect.name == "sqlite"  # PostgreSQL's insert order is its plan's
    last: list[Membership] = []
    for run_id, (read, drop) in enumerate(sequence, start=1):
        if isinstance(read, Snapshot):
            if drop >= 0:  # the previous read's edges, a few dropped, then the new ones
                read.memberships = [*last[drop:], *read.memberships]
            last = list(read.memberships)
        expected = _write(store, plain, read, run_id, digests=False)
        found = _write(store, digested, read, run_id, digests=True)
        assert _comparable(found, ordered) == _comparable(expected, ordered)
        assert stage_of(store, digested) == stage_of(store, plain)
        staged_members = set(stage_of(store, digested)["source_memberships"])
        kept = _digests(store, digested)
        assert not _digests(store, plain)  # never written with digests off
        if kept:  # a digest for every member with staged edges, and for no other
            assert set(kept) == {member for _, _, member in staged_members}


def _spy(monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], list[Any]]:
    """Record the edges loaded into a write's temporary table and the staged edges read back."""
    loaded: list[Any] = []
    read: list[Any] = []
    keyed, bulk, rows = q.load_keyed, q.bulk_insert, digest_diff.raw_rows

    def keyed_spy(conn: sa.Connection, given: Any) -> None:
        given = list(given)
        loaded.extend(given)
        keyed(conn, given)

    def bulk_spy(conn: sa.Connection, table: sa.Table, columns: Any, given: Any) -> int:
        given = list(given)
        loaded.extend(given)
        return bulk(conn, table, columns, given)

    def rows_spy(conn: sa.Connection, query: Any) -> Any:
        found = list(rows(conn, query))
        read.extend(found)
        return iter(found)

    monkeypatch.setattr(q, "load_keyed", keyed_spy)  # SQLite's
    monkeypatch.setattr(stage_edges, "bulk_insert", bulk_spy)  # PostgreSQL's
    monkeypatch.setattr(digest_diff, "raw_rows", rows_spy)
    return loaded, read


def test_only_the_changed_members_edges_are_diffed_most_without_reading_the_stage(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = [SourceUser(f"u{i}", f"u{i}") for i in range(8)]
    groups = [SourceGroup(f"g{i}", f"g{i}") for i in range(3)]
    first = [Membership(f"g{i % 3}", f"u{i}") for i in range(8)]
    first += [Membership("g0", "g2", MemberKind.GROUP), Membership("g1", "u0")]
    first += [Membership("g2", "u3")]
    with store.transaction() as conn:
        store.ensure_connector(conn, "hr", "file")
        store.write_stage(conn, "hr", Snapshot(users, groups, first), 1)
    assert len(_digests(store, "hr")) == 9  # 8 users and the nested group
    loaded, read = _spy(monkeypatch)
    # u1 moves from g1 to g2 and u7 is gone with its edge (both compared with their staged
    # edges); u2 joins g0 and u3 leaves g2 (one edge more or fewer: known from the digests);
    # u0's edge to g1 is read twice (one edge more, but staged already: no change); the
    # nested group's edge is read again as it was
    after = [e for e in first if e.member_id not in ("u1", "u7") and e != Membership("g2", "u3")]
    after += [Membership("g2", "u1"), Membership("g1", "u0"), Membership("g0", "u2")]
    with store.transaction() as conn:
        change = store.write_stage(conn, "hr", Snapshot(users[:7], groups, after), 2)
    assert change is not None and not change.large
    assert change.added == [Membership("g2", "u1"), Membership("g0", "u2")]  # in read order
    assert change.removed == [  # in key order
        Membership("g1", "u1"),
        Membership("g1", "u7"),
        Membership("g2", "u3"),
    ]
    assert loaded == []  # no edge into a temporary table
    # the staged edges read back: only u1's and u7's
    assert sorted(row for row in read if len(row) == 3) == [
        ("g1", "user", "u1"),
        ("g1", "user", "u7"),
    ]
    staged = stage_of(store)["source_memberships"]
    assert set(staged) == {(e.group_id, e.member_kind.value, e.member_id) for e in after}
    assert set(_digests(store, "hr")) == {f"u{i}" for i in range(7)} | {"g2"}
    loaded.clear()
    read.clear()
    with store.transaction() as conn:  # the same read again: nothing loaded, nothing changed
        assert store.write_stage(conn, "hr", Snapshot(users[:7], groups, after), 3) == (
            StageChange()
        )
    assert loaded == [] and read == []


def test_a_delta_or_incomplete_read_drops_the_digests_and_the_next_read_diffs_whole(
    store: Store,
) -> None:
    users = [SourceUser("u1", "u1"), SourceUser("u2", "u2")]
    groups = [SourceGroup("g", "g")]
    full = Snapshot(users, groups, [Membership("g", "u1")])
    with store.transaction() as conn:
        store.ensure_connector(conn, "hr", "file")
        store.write_stage(conn, "hr", full, 1)
    assert set(_digests(store, "hr")) == {"u1"}
    delta = DeltaResult(added=[Membership("g", "u2")])
    with store.transaction() as conn:
        store.write_stage(conn, "hr", as_staged_delta(delta), 2)
    assert _digests(store, "hr") == {}
    again = Snapshot(users, groups, [Membership("g", "u2")])
    with store.transaction() as conn:
        change = store.write_stage(conn, "hr", again, 3)
    assert change is not None and change.removed == [Membership("g", "u1")]
    assert set(_digests(store, "hr")) == {"u2"}
    partial = Snapshot(users, groups, [Membership("g", "u1")], complete=False)
    with store.transaction() as conn:
        store.write_stage(conn, "hr", partial, 4)
    assert _digests(store, "hr") == {}
