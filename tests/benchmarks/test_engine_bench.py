from __future__ import annotations

from benchmarks.engine import changed, snapshot


def test_snapshot_keeps_only_user_and_group_edges_and_changed_keeps_the_count() -> None:
    snap = snapshot(300, 20, 0)
    users = {u.source_id for u in snap.users}
    groups = {g.source_id for g in snap.groups}
    assert len(snap.users) == 300 and len(snap.groups) == 20
    assert all(e.member_id in users | groups and e.group_id in groups for e in snap.memberships)
    other = changed(snap, 0.1, 1)
    assert len(other.memberships) == len(snap.memberships)
    assert len(set(other.memberships) - set(snap.memberships)) == len(snap.memberships) // 10
    renamed = [a for a, b in zip(snap.users, other.users, strict=True) if a != b]
    assert len(renamed) == 30
