"""The runner's incremental mode: merging a delta into the staged mirror."""

from __future__ import annotations

from idpsync.app.delta import merge_delta
from idpsync.model import MemberKind, Membership, Snapshot, SourceGroup, SourceUser
from idpsync.sources.base import DeltaResult


def staged() -> Snapshot:
    users = [SourceUser(f"u{i}", f"user{i}") for i in range(4)]
    groups = [SourceGroup("g1", "One"), SourceGroup("g2", "Two")]
    edges = [Membership("g1", "u0"), Membership("g1", "u1"), Membership("g2", "u2")]
    edges.append(Membership("g1", "g2", MemberKind.GROUP))
    return Snapshot(users, groups, edges)


def test_complete_delta_upserts_and_removes() -> None:
    delta = DeltaResult(
        users=[SourceUser("u1", "renamed"), SourceUser("u9", "joiner")],
        groups=[SourceGroup("g3", "Three")],
        added=[Membership("g3", "u9")],
        removed=[Membership("g1", "u0")],
        removed_users=["u2"],
        removed_groups=["g2"],
    )
    snap = merge_delta(staged(), delta)
    assert snap.complete
    assert {u.source_id: u.login for u in snap.users} == {
        "u0": "user0",
        "u1": "renamed",
        "u3": "user3",
        "u9": "joiner",
    }
    assert {g.source_id for g in snap.groups} == {"g1", "g3"}
    # edges to the removed user and group go with them
    assert set(snap.memberships) == {Membership("g1", "u1"), Membership("g3", "u9")}


def test_partial_delta_only_upserts() -> None:
    delta = DeltaResult(
        users=[SourceUser("u1", "renamed")],
        added=[Membership("g2", "u1")],
        removed_users=["u0"],
        complete=False,
        incomplete_reasons=["GET /groups/delta: 503"],
    )
    snap = merge_delta(staged(), delta)
    assert not snap.complete
    assert snap.incomplete_reasons == ["GET /groups/delta: 503"]
    assert [u.source_id for u in snap.users] == ["u1"]
    assert snap.memberships == [Membership("g2", "u1")]
