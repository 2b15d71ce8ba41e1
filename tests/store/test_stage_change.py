"""Staging a complete snapshot reports what it changed (``StageChange``), bounded: the basis on
which a full read with few changes is planned incrementally (``app/incremental.py``)."""

from __future__ import annotations

import pytest

from idpsync.model import MemberKind, Membership, Snapshot, SourceGroup, SourceUser
from idpsync.store import Store, stage
from idpsync.store.stage import DeltaSnapshot, StageChange


def _users(*ids: str, name: str = "") -> list[SourceUser]:
    return [SourceUser(sid, f"{sid}{name}") for sid in ids]


def _write(store: Store, snap: Snapshot, run_id: int) -> StageChange | None:
    with store.transaction() as conn:
        store.ensure_connector(conn, "hr", "file")
        return store.write_stage(conn, "hr", snap, run_id)


START = Snapshot(
    _users("u1", "u2", "u3"),
    [SourceGroup("g1", "One"), SourceGroup("g2", "Two")],
    [Membership("g1", "u1"), Membership("g1", "u2"), Membership("g2", "g1", MemberKind.GROUP)],
)


def test_a_complete_snapshot_reports_the_records_and_edges_it_changed(store: Store) -> None:
    first = _write(store, START, 1)
    assert first is not None and not first.large
    assert first.users == {"u1", "u2", "u3"} and first.groups == {"g1", "g2"}
    assert len(first.added) == 3 and not first.removed
    after = Snapshot(
        [SourceUser("u1", "u1"), SourceUser("u2", "robert"), SourceUser("u4", "u4")],
        [SourceGroup("g1", "One"), SourceGroup("g3", "Three")],
        [Membership("g1", "u1"), Membership("g1", "u4"), Membership("g3", "u1")],
    )
    change = _write(store, after, 2)
    assert change is not None and not change.large
    assert change.users == {"u2", "u3", "u4"}  # changed, gone, new; u1 unchanged
    assert change.groups == {"g2", "g3"}
    assert set(change.added) == {Membership("g1", "u4"), Membership("g3", "u1")}
    assert set(change.removed) == {
        Membership("g1", "u2"),
        Membership("g2", "g1", MemberKind.GROUP),
    }
    assert _write(store, after, 3) == StageChange()  # the same read again changes nothing


def test_a_skipped_record_is_held_and_not_reported(store: Store) -> None:
    _write(store, START, 1)
    edges = [e for e in START.memberships if e.member_id != "u2"]
    again = Snapshot(_users("u1", "u3"), list(START.groups), edges)
    again.skip("user", "u2", "u2", "user u2: a control character")
    change = _write(store, again, 2)
    assert change is not None
    assert change.users == set() and change.removed == [] and change.added == []


def test_a_change_past_the_bound_is_only_large(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stage, "CHANGE_FLOOR", 2)
    _write(store, START, 1)
    renamed = Snapshot(_users("u1", "u2", "u3", name="x"), list(START.groups), START.memberships)
    change = _write(store, renamed, 2)
    assert change is not None and change.large == "more than 2 users changed"
    rewired = Snapshot(list(renamed.users), list(START.groups), [Membership("g2", "u3")])
    change = _write(store, rewired, 3)
    assert change is not None and change.large == "more than 2 memberships changed"
    assert change.removed == []  # not listed past the bound


def test_an_incomplete_snapshot_or_a_delta_reports_nothing(store: Store) -> None:
    _write(store, START, 1)
    partial = Snapshot(_users("u9"))
    partial.mark_incomplete("GET /groups: 503")
    assert _write(store, partial, 2) is None
    assert _write(store, DeltaSnapshot(_users("u8")), 3) is None
