"""SQLite: a complete streamed read's changed members' edges found by key (``stream_probe.py``).

What is staged, the :class:`StageChange` and the digests must be those of comparing every edge
(digests off) whatever the members' moves are (one edge more or fewer, one gone and one new,
repeats, several new, members new or gone), and the stream's table must be probed by key, not
scanned, unless a member's move cannot be told from one edge.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from idpsync.model import MemberKind, Membership, Snapshot, SourceGroup, SourceUser
from idpsync.store import Store, edge_digests, stream, stream_probe
from tests.store.test_stage_edge_digests import _comparable, _digests, _write
from tests.store.test_stage_sql import stage_of
from tests.store.test_stage_stream import _streamed_write

USERS = [SourceUser(f"u{i}", f"u{i}") for i in range(8)]
GROUPS = [SourceGroup(f"g{i}", f"g{i}") for i in range(4)]
FIRST = [Membership(f"g{i % 3}", f"u{i}") for i in range(8)] + [
    Membership("g3", "u0"),
    Membership("g3", "u1"),
    Membership("g3", "g0", MemberKind.GROUP),
]
M = Membership

CHANGES: dict[str, tuple[list[Membership], list[Membership]]] = {
    # name: (edges taken out of FIRST, edges put in)
    "one more, one fewer": ([M("g1", "u1")], [M("g2", "u2"), M("g3", "g1", MemberKind.GROUP)]),
    "one gone, one new": ([M("g0", "u3")], [M("g2", "u3")]),
    "two gone, one new": ([M("g3", "u0"), M("g0", "u0")], [M("g1", "u0")]),
    "two new": ([], [M("g0", "u4"), M("g2", "u4")]),
    "one gone, two new": ([M("g2", "u5")], [M("g0", "u5"), M("g1", "u5")]),
    "a member gone, one new": ([M("g1", "u7"), M("g3", "u1"), M("g1", "u1")], [M("g1", "u6")]),
    "a repeat": ([], [M("g0", "u0"), M("g2", "u2")]),
    "a repeat and one new": ([], [M("g0", "u0"), M("g1", "u0")]),
    "a group's users gone": ([M(f"g{i % 3}", f"u{i}") for i in range(0, 8, 3)], []),
}


def _read(change: str, repeats: bool = False) -> list[Membership]:
    out, into = CHANGES[change]
    edges = [e for e in FIRST if e not in out] + into
    return [*edges, M("g0", "u3"), M("g3", "u1")] if repeats else edges


@pytest.mark.parametrize("change", sorted(CHANGES))
@pytest.mark.parametrize("repeats", [False, True])  # the first read repeats two edges
def test_a_streamed_read_probed_by_key_stages_what_comparing_every_edge_does(
    store: Store, change: str, repeats: bool
) -> None:
    first = [*FIRST, M("g0", "u3"), M("g3", "u1")] if repeats else FIRST
    for name, digests in (("plain", False), ("probed", True)):
        edge_digests.ENABLED = digests
        try:
            _streamed_write(store, name, Snapshot(USERS, GROUPS, list(first)), 1, [3])
            changes = [
                _streamed_write(store, name, Snapshot(USERS, GROUPS, _read(change)), 2, [2, 7]),
                _streamed_write(store, name, Snapshot(USERS, GROUPS, list(first)), 3, [5]),
            ]
        finally:
            edge_digests.ENABLED = True
        if digests:
            found = ([_comparable(c, True) for c in changes], stage_of(store, name))
        else:
            expected = ([_comparable(c, True) for c in changes], stage_of(store, name))
    assert found == expected
    with store.transaction() as conn:
        store.ensure_connector(conn, "memory", "file")
    _write(store, "memory", Snapshot(USERS, GROUPS, list(first)), 1, digests=True)
    assert _digests(store, "probed") == _digests(store, "memory")


def _plans(seen: list[str]) -> Any:
    """A listener noting SQLite's query plan of each statement that reads the stream."""

    def listen(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        reads = stream.STREAM_SQLITE.name in statement and not many
        if reads and not statement.startswith(("CREATE", "DROP")):
            plan = cursor.connection.execute(f"EXPLAIN QUERY PLAN {statement}", params)
            seen.extend(row[-1] for row in plan.fetchall())

    return listen


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)  # PostgreSQL's: a full join
@pytest.mark.parametrize("scanned", [False, True])
def test_sqlite_probes_the_stream_by_key_and_scans_it_only_for_members_no_edge_tells(
    store: Store, monkeypatch: pytest.MonkeyPatch, scanned: bool
) -> None:
    """One edge more, one fewer, one gone and one new: the stream is searched by its key, never
    scanned (it was by the anti-joins: once per new edges' insert). Two new edges of one
    member: that member's streamed edges are read in one scan, compared in Python."""
    _streamed_write(store, "hr", Snapshot(USERS, GROUPS, list(FIRST)), 1, [3])
    edges = [*_read("two new" if scanned else "one gone, one new"), M("g0", "u2")]
    edges.remove(M("g2", "u2"))  # and one gone, one new; one fewer; one more
    edges.remove(M("g3", "u1"))
    edges.append(M("g2", "u6"))
    for_scan: list[list[str]] = []
    scan = stream_probe._scanned

    def spy(conn: Any, connector: str, table: Any, members: list[str], *rest: Any) -> None:
        for_scan.append(members)
        scan(conn, connector, table, members, *rest)

    monkeypatch.setattr(stream_probe, "_scanned", spy)
    seen: list[str] = []
    listen = _plans(seen)
    sa.event.listen(store.engine, "before_cursor_execute", listen)
    try:
        change = _streamed_write(store, "hr", Snapshot(USERS, GROUPS, edges), 2, [2, 7])
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", listen)
    assert change is not None
    assert sorted(change.removed) == sorted(e for e in FIRST if e not in edges)
    assert change.added == [e for e in edges if e not in FIRST]
    scans = [plan for plan in seen if plan.startswith("SCAN") and "stream" in plan]
    searches = [plan for plan in seen if plan.startswith("SEARCH x USING PRIMARY KEY")]
    assert searches
    assert for_scan == ([["u4"]] if scanned else [])
    assert len(scans) == (1 if scanned else 0), "\n".join(seen)
