"""Okta's delta built from the change equals ``delta_between`` of the whole merged mirror.

The reference below is the merge Okta's incremental read made before (the staged mirror with
the changed users, the listed groups and the re-listed or logged members merged in), diffed
whole by :func:`~idpsync.sources.base.delta_between`; the generated mirrors and changes cover
new, renamed and deleted groups, users changed to and from ``DEPROVISIONED``, logged
additions, removals and deletions, unreadable events and incomplete reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from idpsync.model import Membership, Snapshot, SourceGroup, SourceUser
from idpsync.sources.base import DeltaResult, delta_between
from idpsync.sources.okta.delta import DEPROVISIONED, Found, Users, build_delta, stale_from_log

USER_IDS = [f"u{i}" for i in range(8)]
GROUP_IDS = [f"g{i}" for i in range(5)]
STATUSES = ["ACTIVE", DEPROVISIONED, "SUSPENDED"]


@dataclass
class Case:
    staged: Snapshot
    changed: list[SourceUser]
    include_deprovisioned: bool
    listed: list[SourceGroup] | None
    moved_extra: set[str]
    log: list[tuple[str, str, bool]] | None
    unreadable: set[str]
    deleted: set[str]
    confirmed: set[str]
    members: dict[str, list[str]]
    complete: bool


def user(uid: str, login: str, status: str) -> SourceUser:
    return SourceUser(uid, login, active=status == "ACTIVE", attributes={"status": status})


users_st = st.builds(
    user, st.sampled_from(USER_IDS), st.sampled_from(["a", "b"]), st.sampled_from(STATUSES)
)
group_st = st.builds(SourceGroup, st.sampled_from(GROUP_IDS), st.sampled_from(["One", "Two"]))
ids_st = st.sets(st.sampled_from(USER_IDS))


@st.composite
def cases(draw: st.DrawFn) -> Case:
    staged_users = list({u.source_id: u for u in draw(st.lists(users_st, max_size=8))}.values())
    staged_groups = list({g.source_id: g for g in draw(st.lists(group_st, max_size=5))}.values())
    pairs = [(g.source_id, u.source_id) for g in staged_groups for u in staged_users]
    chosen = draw(st.sets(st.sampled_from(pairs))) if pairs else set()
    edges = sorted(Membership(g, u) for g, u in chosen)
    staged = Snapshot(staged_users, staged_groups, edges)
    kept_copies = [u for u in staged_users if draw(st.booleans())]  # listed again, unchanged
    changed = draw(st.permutations(kept_copies + draw(st.lists(users_st, max_size=5))))
    listed = None
    if draw(st.integers(0, 5)):
        listed = list({g.source_id: g for g in draw(st.lists(group_st, max_size=5))}.values())
    events = st.tuples(st.sampled_from(GROUP_IDS), st.sampled_from(USER_IDS), st.booleans())
    log = draw(st.none() | st.lists(events, max_size=8))
    members = {g: draw(st.lists(st.sampled_from(USER_IDS), max_size=4)) for g in GROUP_IDS}
    return Case(
        staged,
        changed,
        draw(st.booleans()),
        listed,
        draw(st.sets(st.sampled_from(GROUP_IDS))),
        log,
        draw(st.sets(st.sampled_from(GROUP_IDS))) if log is not None else set(),
        draw(ids_st) if log is not None else set(),
        draw(ids_st),
        members,
        draw(st.integers(0, 4)) > 0,
    )


def reread(case: Case, stale: set[str]) -> list[Membership]:
    return sorted(Membership(g, u) for g in stale for u in case.members[g])


def reference(case: Case) -> tuple[DeltaResult, set[str]]:
    """The merged mirror as the read built it before, diffed whole."""
    staged, snap = case.staged, Snapshot()
    merged = {u.source_id: u for u in staged.users}
    merged.update((u.source_id, u) for u in case.changed)
    if not case.include_deprovisioned:
        merged = {k: u for k, u in merged.items() if u.attributes.get("status") != DEPROVISIONED}
    snap.users = list(merged.values())
    stale: set[str] = set()
    if case.listed is None:
        snap.groups, snap.memberships = list(staged.groups), list(staged.memberships)
    else:
        known = {g.source_id for g in staged.groups}
        ids = {g.source_id for g in case.listed}
        moved = (ids - known) | (case.moved_extra & ids)
        snap.groups = list(case.listed)
        if case.log is None:
            stale = moved
            kept = ids - stale
            snap.memberships = [m for m in staged.memberships if m.group_id in kept]
        else:
            present = {u.source_id for u in snap.users}
            explained = {g for g, _, _ in case.log} | case.unreadable
            stale = (moved - known) | case.unreadable | (moved - explained)
            stale |= {g for g, u, added in case.log if added and u not in present}
            stale &= ids
            kept = ids - stale
            pairs = {(m.group_id, m.member_id) for m in staged.memberships if m.group_id in kept}
            for g, u, added in case.log:
                if g in stale or g not in ids:
                    continue
                (pairs.add if added else pairs.discard)((g, u))
            gone = case.confirmed & case.deleted & present
            snap.users = [u for u in snap.users if u.source_id not in gone]
            snap.memberships = sorted(Membership(g, u) for g, u in pairs if u not in gone)
        snap.memberships += reread(case, stale)
    if not case.complete:
        snap.mark_incomplete("a page failed")
    return delta_between(staged, snap, {"mark": "t"}), stale


def narrow(case: Case) -> tuple[DeltaResult, set[str]]:
    """The delta as :func:`build_delta` builds it from the change."""
    snap = Snapshot(list(case.changed))
    asked = (
        ({u for _, u, added in case.log if added} | case.deleted) if case.log is not None else set()
    )
    users = Users(case.staged, snap.users, case.include_deprovisioned, asked)
    found = Found(snap, users, None)
    if case.listed is not None:
        known = {g.source_id for g in case.staged.groups}
        ids = {g.source_id for g in case.listed}
        moved = (ids - known) | (case.moved_extra & ids)
        snap.groups = list(case.listed)
        found = Found(snap, users, ids, stale=moved)
        if case.log is not None:
            found.log_edges = case.log
            found.stale = stale_from_log(
                case.log, case.unreadable, moved - known, moved, ids, users
            )
            found.gone = case.confirmed & {u for u in case.deleted if users.present(u)}
        snap.memberships = reread(case, found.stale)
    if not case.complete:
        snap.mark_incomplete("a page failed")
    return build_delta(case.staged, found, {"mark": "t"}), found.stale


def same(delta: DeltaResult) -> DeltaResult:
    """``delta`` with its upserts and removed ids in one order (the runner applies them as sets)."""
    delta.users.sort(key=lambda u: u.source_id)
    delta.groups.sort(key=lambda g: g.source_id)
    delta.removed_users.sort()
    delta.removed_groups.sort()
    return delta


@settings(max_examples=400, deadline=None)
@given(cases())
def test_the_delta_from_the_change_is_the_delta_of_the_whole_mirror(case: Case) -> None:
    want, want_stale = reference(case)
    got, got_stale = narrow(case)
    assert got_stale == want_stale
    assert same(got) == same(want)


def test_the_reference_sees_each_kind_of_change() -> None:
    """The generated cases are not all empty deltas: one hand-made case of each kind."""
    staged = Snapshot(
        [user("u1", "a", "ACTIVE"), user("u2", "b", DEPROVISIONED), user("u3", "c", "ACTIVE")],
        [SourceGroup("g1", "One"), SourceGroup("g2", "Two")],
        [Membership("g1", "u1"), Membership("g1", "u3"), Membership("g2", "u1")],
    )
    case = Case(
        staged,
        [user("u1", "a2", "ACTIVE"), user("u4", "d", "ACTIVE")],
        False,
        [SourceGroup("g1", "Uno"), SourceGroup("g3", "Three")],
        set(),
        [("g1", "u4", True), ("g1", "u1", False)],
        set(),
        {"u3"},
        {"u3"},
        {"g3": ["u1"]},
        True,
    )
    got, stale = narrow(case)
    assert same(got) == same(reference(case)[0])
    assert stale == {"g3"}
    assert [u.login for u in got.users] == ["a2", "d"]
    assert got.removed_users == ["u2", "u3"]  # deprovisioned, and a confirmed deletion
    assert got.removed_groups == ["g2"] and [g.name for g in got.groups] == ["Uno", "Three"]
    assert got.added == [Membership("g1", "u4"), Membership("g3", "u1")]
    assert got.removed == [Membership("g1", "u1"), Membership("g1", "u3"), Membership("g2", "u1")]
