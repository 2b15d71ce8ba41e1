"""``delta_between``: the delta from a staged mirror to a merged snapshot."""

from __future__ import annotations

from idpsync.app.delta import merge_delta
from idpsync.model import MemberKind, Membership, Snapshot, SourceGroup, SourceUser
from idpsync.sources.base import delta_between


def staged() -> Snapshot:
    users = [SourceUser("u1", "ann"), SourceUser("u2", "bob"), SourceUser("u3", "cy")]
    groups = [SourceGroup("g1", "one"), SourceGroup("g2", "two")]
    edges = [Membership("g1", "u1"), Membership("g1", "u2"), Membership("g2", "u3")]
    return Snapshot(users, groups, edges)


def merged(complete: bool = True) -> Snapshot:
    users = [SourceUser("u1", "ann"), SourceUser("u2", "bobby"), SourceUser("u4", "dee")]
    groups = [SourceGroup("g1", "uno"), SourceGroup("g3", "three")]
    edges = [
        Membership("g1", "u1"),
        Membership("g1", "u4"),
        Membership("g3", "g1", MemberKind.GROUP),
    ]
    snap = Snapshot(users, groups, edges)
    if not complete:
        snap.mark_incomplete("groups: HTTP 500")
    return snap


def test_complete_merge_lists_upserts_additions_and_removals() -> None:
    delta = delta_between(staged(), merged(), {"mark": "t2"})
    assert [u.login for u in delta.users] == ["bobby", "dee"]
    assert [g.name for g in delta.groups] == ["uno", "three"]
    assert delta.added == [Membership("g1", "u4"), Membership("g3", "g1", MemberKind.GROUP)]
    assert delta.removed == [Membership("g1", "u2"), Membership("g2", "u3")]
    assert (delta.removed_users, delta.removed_groups) == (["u3"], ["g2"])
    assert delta.state == {"mark": "t2"} and delta.complete and not delta.incomplete_reasons


def test_applying_it_to_the_mirror_gives_the_merged_snapshot() -> None:
    want, got = merged(), merge_delta(staged(), delta_between(staged(), merged(), {}))
    assert sorted(got.users, key=lambda u: u.source_id) == want.users
    assert sorted(got.groups, key=lambda g: g.source_id) == want.groups
    assert got.memberships == sorted(want.memberships) and got.complete


def test_an_incomplete_merge_removes_nothing() -> None:
    delta = delta_between(staged(), merged(complete=False), {"mark": "t1"})
    assert not delta.complete and delta.incomplete_reasons == ["groups: HTTP 500"]
    assert delta.removed == delta.removed_users == delta.removed_groups == []
    assert [u.login for u in delta.users] == ["bobby", "dee"] and len(delta.added) == 2


def test_no_change_is_an_empty_delta() -> None:
    delta = delta_between(staged(), staged(), {})
    assert delta.users == delta.groups == delta.added == delta.removed == []
    assert delta.removed_users == delta.removed_groups == []
