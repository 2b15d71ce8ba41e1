"""Which alert conditions hold now, worked out from the store (runs, approvals, targets).

Connector conditions (:data:`CONNECTOR_KINDS`):

- ``failed``: the newest run (dry runs aside) failed. Clears with the next run that does not.
- ``partial``: the newest ``partial_after`` runs were all ``partial`` (failed runs in between
  neither count nor break the streak). Clears with a run that read everything.
- ``guarded``: the connector awaits approval (a guard refused a run). Clears when the removals
  are approved (and applied) or dismissed.
- ``approval_waiting``: it has awaited approval for ``approval_reminder_after`` seconds.

Target conditions (:data:`TARGET_KINDS`): ``target_down`` and ``target_quarantined``, from the
target's status after its last delivery; ``target_seats`` while users wait in its held queue
for a seat (``max_active_users``). ``overdue`` is the scheduler's (no good run in time).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from idpsync.config_service import AlertSettings
from idpsync.service.book import Firing
from idpsync.store import approvals
from idpsync.store import schema as t
from idpsync.store.store import Store
from idpsync.targets.seats import HeldUser

CONNECTOR_KINDS = ("failed", "partial", "guarded", "approval_waiting")
TARGET_KINDS = ("target_down", "target_quarantined", "target_seats")
NOT_OVER = ("running", "interrupted")


def _runs(store: Store, name: str, limit: int) -> list[Any]:
    r = t.runs.c
    query = (
        sa.select(r.id, r.status, r.message)
        .where(r.connector == name, r.dry_run.is_(False), r.status.not_in(NOT_OVER))
        .order_by(r.id.desc())
        .limit(limit)
    )
    with store.engine.connect() as conn:
        return list(conn.execute(query))


def partial_streak(rows: list[Any]) -> list[Any]:
    """The newest run of a streak of partial runs first (failed runs skipped), or ``[]``."""
    streak = []
    for row in rows:
        if row.status == "partial":
            streak.append(row)
        elif row.status != "failed":
            break
    return streak


def connector_conditions(
    store: Store, name: str, settings: AlertSettings, at: datetime
) -> dict[str, Firing]:
    """The connector's conditions that hold now."""
    rows = _runs(store, name, max(50, 4 * settings.partial_after))
    holding: dict[str, Firing] = {}
    if rows and rows[0].status == "failed":
        holding["failed"] = Firing(f"run {rows[0].id} failed: {rows[0].message}", rows[0].id)
    streak = partial_streak(rows)
    if len(streak) >= settings.partial_after:
        holding["partial"] = Firing(
            f"{len(streak)} runs in a row could not read everything, so nobody was removed; "
            f"newest (run {streak[0].id}): {streak[0].message}",
            streak[0].id,
        )
    waiting = approvals.pending(store, name)
    if waiting is not None:
        counts = waiting["summary"] or {}
        gone = counts.get("users_deactivated", 0) + counts.get("users_deleted", 0)
        holding["guarded"] = Firing(
            f"awaiting approval: {waiting['message']} ({gone} users would be deactivated or "
            "deleted); approve or dismiss it on the connector's approval page",
            int(waiting["run_id"]),
        )
        since = waiting["since"]
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
        waited = (at - since).total_seconds()
        if waited >= settings.approval_reminder_after:
            holding["approval_waiting"] = Firing(
                f"the removals of run {waiting['run_id']} have awaited approval for "
                f"{int(waited // 60)} minutes; approve or dismiss them",
                int(waiting["run_id"]),
            )
    return holding


def target_conditions(
    name: str, row: dict[str, Any], held: Sequence[HeldUser] = ()
) -> dict[str, Firing]:
    """A target's conditions from its row and its held queue.

    The row gives ``status``, ``last_error`` and ``failed_rounds``.
    """
    rounds = int(row.get("failed_rounds") or 0)
    error = row.get("last_error") or "no reason recorded"
    holding: dict[str, Firing] = {}
    if held:
        who = ", ".join(h.login for h in held[:5]) + (", …" if len(held) > 5 else "")
        holding["target_seats"] = Firing(
            f"{len(held)} users wait for a seat ({who}): {held[0].reason}; raise "
            f"max_active_users if the licence allows, or free seats in target {name}"
        )
    if row["status"] == "down":
        holding["target_down"] = Firing(f"down (failed deliveries in a row: {rounds}): {error}")
    elif row["status"] == "quarantined":
        holding["target_quarantined"] = Firing(
            f"quarantined: {error}; fix the cause, then 'idpsync deliver {name} --resume'"
        )
    return holding
