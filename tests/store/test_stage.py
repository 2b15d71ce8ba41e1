"""The stage: edges are diffed against the staged ones, users and groups rewritten."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from idpsync.model import MemberKind, Membership, Snapshot, SourceGroup, SourceUser
from idpsync.store import Store
from idpsync.store import schema as t
from idpsync.store.apply import _edge_json


def _snap(edges: list[Membership], *, complete: bool = True) -> Snapshot:
    users = [SourceUser(f"u{i}", f"user{i}", attributes={"n": i}) for i in range(4)]
    groups = [SourceGroup("g1", "One"), SourceGroup("g2", "Two")]
    return Snapshot(users, groups, edges, complete=complete)


def _stage(store: Store, snap: Snapshot, run_id: int) -> Snapshot:
    with store.transaction() as conn:
        store.ensure_connector(conn, "hr", "file")
        store.write_stage(conn, "hr", snap, run_id)
        return store.load_stage(conn, "hr")


def _edge_runs(store: Store) -> dict[tuple[str, str, str], int]:
    m = t.source_memberships.c
    with store.engine.connect() as conn:
        rows = conn.execute(t.source_memberships.select().where(m.connector == "hr"))
        return {(r.group_id, r.member_kind, r.member_id): r.run_id for r in rows}


A = Membership("g1", "u0")
B = Membership("g1", "u1")
C = Membership("g2", "g1", MemberKind.GROUP)
D = Membership("g2", "u3")


def test_a_complete_snapshot_adds_and_removes_only_the_changed_edges(store: Store) -> None:
    _stage(store, _snap([A, B, C, A]), 1)
    staged = _stage(store, _snap([A, C, D]), 2)
    assert sorted(staged.memberships) == sorted([A, C, D])
    assert _edge_runs(store) == {
        ("g1", "user", "u0"): 1,
        ("g2", "group", "g1"): 1,
        ("g2", "user", "u3"): 2,
    }
    assert {u.source_id: u for u in staged.users}["u2"].attributes == {"n": 2}


def test_an_incomplete_snapshot_never_removes_staged_edges(store: Store) -> None:
    _stage(store, _snap([A, B]), 1)
    staged = _stage(store, _snap([D], complete=False), 2)
    assert sorted(staged.memberships) == sorted([A, B, D])


def test_an_empty_complete_snapshot_empties_the_stage(store: Store) -> None:
    _stage(store, _snap([A, B, C]), 1)
    assert _stage(store, Snapshot(), 2).memberships == []


@given(st.text(), st.text(), st.sampled_from(["user", "group"]))
def test_edge_json_is_what_json_dumps_gives(group: str, member: str, kind: str) -> None:
    expected = json.dumps({"group": group, "member": member, "member_kind": kind})
    assert _edge_json(group, member, kind) == expected
