"""Property: a delta applied to the stage in SQL leaves it exactly as merging it in Python
(``merge_delta``) and staging the merged snapshot would, on SQLite and on PostgreSQL."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idpsync.app.delta import as_staged_delta, merge_delta
from idpsync.model import MemberKind, Membership, Snapshot, SourceGroup, SourceUser
from idpsync.sources.base import DeltaResult
from idpsync.store import Store
from tests.store.test_stage_sql import stage_of

USER_IDS = [f"u{i}" for i in range(5)]
GROUP_IDS = [f"g{i}" for i in range(4)]
WORDS = st.sampled_from(["a", "b", "c"])

user_records = st.builds(
    SourceUser,
    st.sampled_from(USER_IDS),
    WORDS,
    active=st.booleans(),
    attributes=st.dictionaries(st.sampled_from(["x", "y"]), WORDS, max_size=2),
)
group_records = st.builds(SourceGroup, st.sampled_from(GROUP_IDS), WORDS)
edges = st.one_of(
    st.builds(Membership, st.sampled_from(GROUP_IDS), st.sampled_from(USER_IDS)),
    st.builds(
        Membership,
        st.sampled_from(GROUP_IDS),
        st.sampled_from(GROUP_IDS),
        st.just(MemberKind.GROUP),
    ),
)
"""Edges over the id pools: some name users or groups not staged (dangling)."""

snapshots = st.builds(
    Snapshot,
    st.lists(user_records, max_size=6),
    st.lists(group_records, max_size=4),
    st.lists(edges, max_size=12),
)
deltas = st.builds(
    DeltaResult,
    users=st.lists(user_records, max_size=4),
    groups=st.lists(group_records, max_size=3),
    added=st.lists(edges, max_size=6),
    removed=st.lists(edges, max_size=6),
    removed_users=st.lists(st.sampled_from(USER_IDS), max_size=3),
    removed_groups=st.lists(st.sampled_from(GROUP_IDS), max_size=2),
)

_names = itertools.count()


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(staged=snapshots, delta=deltas)
def test_applying_a_delta_in_sql_equals_merging_it(
    store: Store, staged: Snapshot, delta: DeltaResult
) -> None:
    merged, applied = f"m{next(_names)}", f"a{next(_names)}"
    with store.transaction() as conn:
        for name in (merged, applied):
            store.ensure_connector(conn, name, "file")
            store.write_stage(conn, name, staged, 1)
    with store.transaction() as conn:
        mirror = merge_delta(store.load_stage(conn, merged), delta)
        store.write_stage(conn, merged, mirror, 2)
        store.apply_delta_to_stage(conn, applied, as_staged_delta(delta), 2)
    expected: dict[str, Any] = stage_of(store, merged)
    assert stage_of(store, applied) == expected
