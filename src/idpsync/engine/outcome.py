"""What a run's status means: the rules behind ``succeeded``, ``partial`` and ``failed``.

=============  ====  ===========================================================================
status         exit  meaning
=============  ====  ===========================================================================
``succeeded``  0     every listing was read (or the read cannot see removals by its nature, e.g.
                     a OneLogin incremental read) and the plan was applied
``dry_run``    0     planned only, nothing changed
``failed``     1     nothing usable was read (no token, the credentials were refused, no listing
                     came back) or the run broke; the directory is unchanged
``partial``    3     some listings were read and applied, others failed: additions and updates
                     were applied, nobody was removed; the next runs must fix it
``guarded``    4     refused by a guard before anything changed; the connector awaits approval
=============  ====  ===========================================================================

Exit code ``2`` is bad usage or configuration (no run). Only ``succeeded`` counts as a good run
for the service's "overdue" check.
"""

from __future__ import annotations

from idpsync.model import Snapshot

EXIT_CODES = {"succeeded": 0, "dry_run": 0, "failed": 1, "partial": 3, "guarded": 4}
"""The ``idpsync sync`` exit code per run status."""

GOOD = ("succeeded",)
"""Statuses that count as a good run (overdue checks, "last success")."""


def exit_code(status: str) -> int:
    """The exit code of a run with ``status`` (anything unknown is a failure)."""
    return EXIT_CODES.get(status, 1)


def worst_exit(statuses: list[str]) -> int:
    """The exit code for several runs: a failure first, then a refusal, then a partial read."""
    codes = {exit_code(s) for s in statuses}
    for code in (1, 4, 3):
        if code in codes:
            return code
    return 0


def read_failure(snap: Snapshot, *, full: bool) -> str | None:
    """Why a read counts as failed, or ``None``: a full read with gaps that got nothing back.

    A full read that has gaps and holds no user and no group completed no listing worth the
    name: planning it would only hide the failure behind an empty "partial" run. (A delta read
    may well bring nothing back: an empty delta is not a failure.)
    """
    if snap.complete or not full or not snap.gaps:
        return None
    if snap.users or snap.groups:
        return None
    return "nothing could be read: " + "; ".join(snap.gaps)


def read_status(snap: Snapshot) -> str:
    """``succeeded`` or ``partial`` for an applied run of ``snap``."""
    return "partial" if snap.gaps else "succeeded"
