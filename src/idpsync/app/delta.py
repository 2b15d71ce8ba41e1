"""Incremental reads and the staged mirror: a delta as the stage applies it, and its meaning.

A complete delta is applied to the stage in the database (:func:`as_staged_delta` turns it
into the :class:`~idpsync.store.stage.DeltaSnapshot` that
:meth:`~idpsync.store.store.Store.apply_delta_to_stage` applies); :func:`merge_delta` is the
same change merged in Python, used for a partial delta (its upserts only) and as the meaning
the SQL keeps (the property tests compare the two).
"""

from __future__ import annotations

from idpsync.model import EdgeList, MemberKind, Snapshot
from idpsync.sources.base import DeltaResult
from idpsync.sources.clean import usable_id
from idpsync.store.stage import DeltaSnapshot


def as_staged_delta(delta: DeltaResult) -> DeltaSnapshot:
    """A complete delta as the store applies it to the stage (in SQL, not merged in Python).

    Its upserts are normalised with the run's snapshot; removals naming an id no record can
    have (:func:`~idpsync.sources.clean.usable_id`) match nothing staged and are left out.
    """

    def usable(value: str) -> bool:
        return usable_id(value) == value

    return DeltaSnapshot(
        list(delta.users),
        list(delta.groups),
        EdgeList(delta.added),
        removed=[e for e in delta.removed if usable(e.group_id) and usable(e.member_id)],
        removed_users=[i for i in delta.removed_users if usable(i)],
        removed_groups=[i for i in delta.removed_groups if usable(i)],
    )


def merge_delta(staged: Snapshot, delta: DeltaResult) -> Snapshot:
    """The mirror after ``delta``: a complete snapshot, or only the upserts if it is partial.

    A partial delta yields an *incomplete* snapshot of its upserts and added edges, which the
    runner stages without removing anything. A complete delta is applied to the stage in the
    database instead (:func:`as_staged_delta`, :meth:`Store.apply_delta_to_stage`); this merge
    in Python is the meaning that applying it keeps (the property tests compare the two).
    """
    if not delta.complete:
        snap = Snapshot(
            list(delta.users), list(delta.groups), EdgeList(delta.added), complete=False
        )
        snap.incomplete_reasons = list(delta.incomplete_reasons)
        return snap
    users = {u.source_id: u for u in staged.users}
    groups = {g.source_id: g for g in staged.groups}
    users.update((u.source_id, u) for u in delta.users)
    groups.update((g.source_id, g) for g in delta.groups)
    for user_id in delta.removed_users:
        users.pop(user_id, None)
    for group_id in delta.removed_groups:
        groups.pop(group_id, None)
    edges = (set(staged.memberships) | set(delta.added)) - set(delta.removed)
    kept = sorted(
        e
        for e in edges
        if e.group_id in groups
        and (e.member_id in (users if e.member_kind is MemberKind.USER else groups))
    )
    return Snapshot(list(users.values()), list(groups.values()), EdgeList(kept))
