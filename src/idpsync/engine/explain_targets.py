"""Step 5 of an explanation: where each target stands for one user (no I/O).

The caller reads each target's row, the user's changes and rejections from the store into
:class:`TargetFacts`; :func:`targets_step` words them as delivered, pending, failed or rejected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from idpsync.engine.explain import SKIPPED_STEP, Step


@dataclass(frozen=True)
class TargetFacts:
    """Where one target stands for one user (read from the store by the caller)."""

    name: str
    """The target's name."""
    status: str | None
    """The target's status (``ok``, ``down``, ``quarantined``); ``None``: never ran."""
    cursor: int
    """The last change the target confirmed."""
    last_change: int | None
    """The user's newest change in the log (``None``: none)."""
    waiting: int
    """The user's changes after the cursor."""
    remote_id: str | None
    """The target's id of the user, when known."""
    rejections: tuple[str, ...] = ()
    """Rejected changes for this user, in words."""
    last_error: str | None = None
    """The target's last error."""


def target_line(facts: TargetFacts) -> tuple[str, str]:
    """One target's state for the user, and the line that says it.

    The state is ``delivered``, ``pending``, ``failed``, ``rejected`` or ``none`` (nothing to
    deliver).
    """
    name = facts.name
    if facts.rejections:
        return "rejected", f"{name}: rejected — " + "; ".join(facts.rejections)
    if facts.last_change is None:
        return "none", f"{name}: nothing to deliver (the user has no change in the log)"
    if facts.status == "quarantined":
        error = facts.last_error or "no reason recorded"
        return "failed", f"{name}: failed — the target is quarantined ({error})"
    if facts.waiting:
        if facts.status == "down":
            error = facts.last_error or "no reason recorded"
            return "failed", (
                f"{name}: failed — the target is down ({error}); {facts.waiting} change(s) wait"
            )
        never = " (the target never ran yet)" if facts.status is None else ""
        return "pending", (
            f"{name}: pending — {facts.waiting} change(s) wait for the next delivery{never}"
        )
    remote = f" as {facts.remote_id}" if facts.remote_id else ""
    return "delivered", f"{name}: delivered{remote} (up to change {facts.last_change})"


def targets_step(found: bool, targets: Sequence[TargetFacts]) -> Step:
    """Step 5: every target that receives the connector's changes."""
    title = "Targets"
    if not found:
        return Step("targets", title, None, SKIPPED_STEP)
    if not targets:
        return Step("targets", title, None, "no target receives this connector's changes")
    verdicts = [target_line(f) for f in targets]
    lines = [text for _, text in verdicts]
    states = {state for state, _ in verdicts}
    ok: bool | None
    if states & {"failed", "rejected"}:
        ok, verdict = False, "a target failed or rejected this user's changes"
    elif "pending" in states:
        ok, verdict = None, "some changes are still to be delivered"
    elif states == {"none"}:
        ok, verdict = None, "nothing to deliver: the directory has no change for this user"
    else:
        ok, verdict = True, "every target has this user's changes"
    return Step("targets", title, ok, verdict, lines=lines)
