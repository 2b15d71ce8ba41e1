"""The membership diff in SQL (store/edge_diff.py) equals the one in Python (engine/edges.py).

Generated directories, staged edges and rules (held and kept objects, always groups, relinks,
incomplete reads, nested groups), on SQLite and, with fewer examples, on PostgreSQL. Rows of
another connector and local memberships sit in the same tables and must be ignored. Then whole
runs: deciding in the store gives the plan deciding in Python gives.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idpsync.app.deciding import decide_in_store
from idpsync.engine import edges
from idpsync.engine.edges import EdgeChanges, EdgeRule
from idpsync.engine.plan import OpKind, Plan
from idpsync.model import DirectoryState, DirGroup, DirUser, MemberKind, Membership
from idpsync.sources.file.reader import FileSource
from idpsync.store import Store, edge_diff, stash
from idpsync.store import schema as t
from idpsync.store.edge_diff import StoreEdges
from idpsync.store.stash import Stash
from tests.strategies import GROUP_IDS, USER_IDS, states
from tests.test_properties import POLICIES, idp
from tests.world import World

ALWAYS = "idpsync:always:staff"
NEW_IDS = ["n0", "n1", "u10", "u11"]
STAGED_USERS = [*USER_IDS, "n0", "n1", "x9"]
STAGED_GROUPS = [*GROUP_IDS, ALWAYS, "g9"]
STAMP = datetime(2026, 1, 1, tzinfo=UTC)


def subset(pool: list[str]) -> st.SearchStrategy[frozenset[str]]:
    return st.frozensets(st.sampled_from(pool))


@st.composite
def rules(draw: st.DrawFn) -> EdgeRule:
    olds = draw(st.lists(st.sampled_from(USER_IDS), unique=True, max_size=3))
    news = draw(st.permutations(NEW_IDS))[: len(olds)]
    return EdgeRule(
        synced_users=draw(subset(STAGED_USERS)),
        staged_groups=draw(subset(STAGED_GROUPS)),
        always=draw(subset([ALWAYS, "g0"])),
        groups=draw(subset(STAGED_GROUPS)),
        held_users=draw(subset(USER_IDS)),
        held_groups=draw(subset(GROUP_IDS)),
        kept=draw(subset(USER_IDS)),
        relinks=dict(zip(news, olds, strict=True)),
        complete=draw(st.booleans()),
    )


staged_edges = st.sets(
    st.tuples(st.sampled_from(STAGED_GROUPS), st.sampled_from(STAGED_USERS)).map(
        lambda e: Membership(e[0], e[1], MemberKind.USER)
    )
    | st.tuples(st.sampled_from(STAGED_GROUPS), st.sampled_from(STAGED_GROUPS)).map(
        lambda e: Membership(e[0], e[1], MemberKind.GROUP)
    )
)


def clear(store: Store) -> None:
    with store.transaction() as conn:
        for table in reversed(t.metadata.sorted_tables):
            conn.execute(table.delete())


def put_directory(conn: sa.Connection, connector: str | None, state: DirectoryState) -> None:
    """``state`` as rows of ``connector`` (and its edges); ``None``: local rows."""
    users, groups = {}, {}
    for sid, user in state.users.items():
        users[sid] = conn.execute(
            t.users.insert().values(
                connector=connector,
                source_id=sid,
                login=user.login,
                login_key=user.login,
                active=user.active,
                attributes={},
                created_at=STAMP,
                updated_at=STAMP,
            )
        ).inserted_primary_key[0]
    for sid, group in state.groups.items():
        groups[sid] = conn.execute(
            t.groups.insert().values(
                connector=connector,
                source_id=sid,
                name=group.name,
                name_key=group.name,
                created_at=STAMP,
                updated_at=STAMP,
            )
        ).inserted_primary_key[0]
    for edge in state.memberships:
        ids = users if edge.member_kind is MemberKind.USER else groups
        conn.execute(
            t.memberships.insert().values(
                connector=connector,
                group_id=groups[edge.group_id],
                member_kind=edge.member_kind.value,
                member_id=ids[edge.member_id],
                created_at=STAMP,
            )
        )


@contextmanager
def put_world(
    store: Store, current: DirectoryState, staged: set[Membership]
) -> Iterator[sa.Connection]:
    clear(store)
    with store.transaction() as conn:
        for name in ("hr", "other"):
            store.ensure_connector(conn, name, "file")
        put_directory(conn, "hr", current)
        other = DirectoryState(dict(current.users), dict(current.groups))
        other.memberships = {
            Membership(g, u, MemberKind.USER) for g in current.groups for u in current.users
        }
        put_directory(conn, "other", other)  # same source ids, another owner: never read
        rows = [
            {"connector": c, "group_id": e.group_id, "member_kind": e.member_kind.value}
            | {"member_id": e.member_id, "run_id": 1}
            for e in staged
            for c in ("hr", "other")
        ]
        if rows:
            conn.execute(t.source_memberships.insert(), rows)
        yield conn


@contextmanager
def bulk_from(bulk: bool) -> Iterator[None]:
    """Stash every added edge (``bulk``), or none: the two paths must give the same edges."""
    before = edge_diff.BULK_FROM
    edge_diff.BULK_FROM = 1 if bulk else 10**9
    try:
        yield
    finally:
        edge_diff.BULK_FROM = before


def unstashed(found: EdgeChanges) -> EdgeChanges:
    """``found`` with stashed additions read back (and the stash's own promises checked)."""
    if found.stored is None:
        return found
    assert isinstance(found.stored, Stash)
    assert found.added == []
    added = found.stored.read()
    assert found.stored.count == len(added) > 0
    assert found.stored.sample == added[: stash.SAMPLE]
    found.stored.drop()
    return EdgeChanges(added, found.removed)


def check(
    store: Store,
    current: DirectoryState,
    staged: set[Membership],
    rule: EdgeRule,
    bulk: bool = False,
) -> None:
    with put_world(store, current, staged) as conn, bulk_from(bulk):
        found = StoreEdges(conn, "hr").changes(rule)
        expected = edges.changes(rule, staged, current.memberships)
        assert (found.stored is not None) == (bulk and bool(expected.added))
        assert unstashed(found) == expected
        planner = StoreEdges(conn, "hr")
        memory = edges.InMemory(staged, ())
        for roots in ({"g0"}, {"g1", "g2"}, set(STAGED_GROUPS)):
            for transitive in (False, True):
                assert planner.members(roots, transitive=transitive) == memory.members(
                    roots, transitive=transitive
                )
        assert not leftover_tables(conn)


def same_plan(apart: Plan, whole: Plan) -> bool:
    """``apart`` (maybe with stashed additions) plans the operations of ``whole``."""
    if apart.stored is None:
        return apart.ops == whole.ops
    adds = [op for op in whole.ops if op.kind is OpKind.ADD_MEMBER]
    assert apart.stored.sample == adds[: stash.SAMPLE]  # keys and reasons too
    assert apart.stored.edges.read() == [op.member for op in adds]
    assert len(apart) == len(whole) and apart.summary() == whole.summary()
    return apart.ops == [op for op in whole.ops if op.kind is not OpKind.ADD_MEMBER]


def leftover_tables(conn: sa.Connection) -> list[str]:
    names = sa.inspect(conn).get_temp_table_names() if conn.dialect.name == "sqlite" else []
    if conn.dialect.name == "postgresql":
        query = sa.text("SELECT relname FROM pg_class WHERE relname LIKE 'idpsync_edge%'")
        names = list(conn.execute(query).scalars())
    return [n for n in names if n.startswith("idpsync_edge")]


@pytest.fixture(scope="module")
def sqlite_store() -> Iterator[Store]:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{Path(tmp) / 'edges.db'}")
        yield store
        store.close()


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(current=states(), staged=staged_edges, rule=rules(), bulk=st.booleans())
def test_sql_diff_equals_the_python_diff_on_sqlite(
    sqlite_store: Store,
    current: DirectoryState,
    staged: set[Membership],
    rule: EdgeRule,
    bulk: bool,
) -> None:
    check(sqlite_store, current, staged, rule, bulk)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(current=states(), staged=staged_edges, rule=rules())
def test_a_restricted_diff_is_the_whole_diff_of_its_users(
    sqlite_store: Store, current: DirectoryState, staged: set[Membership], rule: EdgeRule
) -> None:
    """Restricted to some users (an incremental plan's, which syncs, holds and keeps only
    them, and one more): their edges and the group edges change as in the whole diff."""
    users = rule.synced_users | rule.held_users | rule.kept | {"u0"}
    users |= rule.relinks.keys() | set(rule.relinks.values())

    def ours(edge: Membership) -> bool:
        return edge.member_kind is MemberKind.GROUP or edge.member_id in users

    with put_world(sqlite_store, current, staged) as conn:
        whole = StoreEdges(conn, "hr").changes(rule)
        restricted = StoreEdges(conn, "hr", frozenset(users)).changes(rule)
        assert restricted == EdgeChanges(
            [e for e in whole.added if ours(e)], [e for e in whole.removed if ours(e)]
        )
        assert not leftover_tables(conn)


def test_sql_diff_equals_the_python_diff_on_postgresql(fresh_pg_url: str) -> None:
    store = Store.open(fresh_pg_url)
    try:

        @settings(max_examples=25, deadline=None)
        @given(current=states(), staged=staged_edges, rule=rules(), bulk=st.booleans())
        def run(
            current: DirectoryState, staged: set[Membership], rule: EdgeRule, bulk: bool
        ) -> None:
            check(store, current, staged, rule, bulk)

        run()
    finally:
        store.close()


@settings(max_examples=40, deadline=None)
@given(first=idp(), second=idp(), policy=POLICIES, complete=st.booleans(), bulk=st.booleans())
def test_a_run_decided_in_the_store_plans_what_python_plans(
    first: dict[str, Any],
    second: dict[str, Any],
    policy: dict[str, Any],
    complete: bool,
    bulk: bool,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{Path(tmp) / 'run.db'}")
        try:
            world = World(Path(tmp) / "idp.json", store, policy=policy, **first)
            world.sync()  # the first run decides in the store too
            world.users, world.groups = second["users"], second["groups"]
            world.write()
            snap = asyncio.run(FileSource(world.path).snapshot())
            if not complete:
                snap.mark_incomplete("a listing failed")
            run_id = store.start_run(world.name, "full", True)
            with store.transaction() as conn:
                store.write_stage(conn, world.name, snap, run_id)
                staged = snap if complete else store.load_stage(conn, world.name)
                staged.complete = complete
                config = world.settings()
                with bulk_from(bulk):
                    apart = decide_in_store(conn, store, world.name, config, staged, in_store=True)
                whole = decide_in_store(conn, store, world.name, config, staged)
                assert same_plan(apart.plan, whole.plan)
                assert not leftover_tables(conn)
        finally:
            store.close()


@pytest.mark.parametrize("restricted", [True, False])
def test_a_restricted_diff_looks_its_users_edges_up_by_member(
    sqlite_store: Store, restricted: bool
) -> None:
    """Its few users' staged edges are looked up in the stage's index by member; a whole diff
    (every synced user) reads all the connector's staged edges, probing the ids."""
    staged = {Membership(g, u) for g in GROUP_IDS for u in USER_IDS}
    rule = EdgeRule(synced_users=frozenset({"u0"}), staged_groups=frozenset(GROUP_IDS))
    plans: list[str] = []

    def explain(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if statement.startswith("INSERT INTO idpsync_") and "source_memberships" in statement:
            rows = cursor.connection.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            plans.append(" ".join(str(row[-1]) for row in rows))

    owned = DirectoryState(  # the directory holds one edge: a diff, not a first load
        {"u1": DirUser("u1", "user1")},
        {"g0": DirGroup("g0", "G0")},
        {Membership("g0", "u1")},
    )
    with put_world(sqlite_store, owned, staged) as conn:
        sa.event.listen(sqlite_store.engine, "before_cursor_execute", explain)
        try:
            users = frozenset({"u0"}) if restricted else None
            found = StoreEdges(conn, "hr", users).changes(rule)
        finally:
            sa.event.remove(sqlite_store.engine, "before_cursor_execute", explain)
    assert sorted(found.added) == sorted(e for e in staged if e.member_id == "u0")
    assert plans  # the desired edges, read from the stage
    lookup = "ix_source_memberships_member (connector=? AND member_id=?)"
    assert (lookup in plans[0]) == restricted, plans[0]
