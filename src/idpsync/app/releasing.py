"""What a run lets go of once it no longer needs it: its read's edges, then its user records.

A run holds its read (:class:`~idpsync.model.Snapshot`) from the read to its end; at XL (1M
users, 10M edges) the two largest parts of it are needed only for a while:

- the **edges**, once staged (:func:`release_edges`): the plan diffs them in the database
  (:mod:`idpsync.app.deciding`), the policy asks the store for the members of required
  groups, and neither the checks, the photo round nor the report read them;
- the **user records**, once planned (:func:`release_users`): the plan holds what it writes
  (each operation's values), the decision holds the desired users it was made from, and the
  guards, checks, apply and the run's record read those, never the read's records; only the
  photo round (which users are gone, by their photo reference) reads them after the plan.

Both are let go by emptying the snapshot in place (the source may hold the same object), as
the run's read is never used again once the run ends.
"""

from __future__ import annotations

from idpsync.model import EdgeList, Snapshot
from idpsync.store.stage import DeltaSnapshot


def release_edges(snap: Snapshot) -> None:
    """Once staged, let a read's edges go: from then on the run reads them from the store.

    A complete delta keeps its own (few): they are the change it is planned by.
    """
    if not isinstance(snap, DeltaSnapshot):
        snap.memberships = EdgeList()


def release_users(snap: Snapshot, *, photos: bool) -> None:
    """Once planned, let the read's user records go (kept when ``photos``: the photo round's)."""
    if not photos:
        snap.users = []
