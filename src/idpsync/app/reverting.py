"""``idpsync runs revert RUN``: undo an applied run as a new run of its connector.

The new run (mode ``revert``) is recorded like any run. In one transaction, under the
connector's lock: the run's change log and every later change of the connector are read, the
compensating operations are built (:mod:`idpsync.engine.revert`; objects changed since are
conflicts, left alone), the guards check them exactly as for a sync (user removals, group and
membership limits, invariants; ``--allow-deletes`` and ``--allow-invariant`` confirm), and they
are applied with their own change-log rows. Targets then receive them like any run's changes.
A dry run or a refusal rolls everything back.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from idpsync.app import checks
from idpsync.app.failures import failure_message
from idpsync.app.runner import Rollback, lock, summarize
from idpsync.config import ConnectorSettings
from idpsync.engine import guard, report
from idpsync.engine.plan import Plan
from idpsync.engine.revert import Compensation, Conflict, compensate, touches
from idpsync.store import schema as t
from idpsync.store.apply import apply_plan
from idpsync.store.store import Store

REVERTIBLE = ("succeeded", "partial")
"""Statuses of runs that applied changes."""


class NotRevertible(Exception):
    """The run does not exist or applied nothing that could be reverted."""


@dataclass
class RevertResult:
    """The outcome of a revert."""

    run_id: int
    """The new run's id."""
    reverted: int
    """The run that was undone."""
    status: str
    """``succeeded``, ``dry_run``, ``guarded`` or ``failed``."""
    plan: Plan = field(default_factory=Plan)
    """The compensating operations (applied, or planned for a dry or refused run)."""
    conflicts: list[Conflict] = field(default_factory=list)
    """Changes left as they are because their object changed since."""
    message: str = ""
    """Why the revert was refused or failed."""


def _later(
    conn: Connection, connector: str, after_seq: int, source_ids: set[str]
) -> set[tuple[str, str]]:
    """What the changes of ``connector`` after ``after_seq`` touched, among ``source_ids``.

    (A membership change's source id is its group's, so the run's groups cover its edges.)
    """
    c = t.changes.c
    found: set[tuple[str, str]] = set()
    for chunk in checks.batches(sorted(source_ids)):
        query = sa.select(c.object_type, c.source_id, c.before, c.after).where(
            c.connector == connector, c.seq > after_seq, c.source_id.in_(chunk)
        )
        found.update(touches(dict(row._mapping)) for row in conn.execute(query))
    return found


def _target(store: Store, run_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    row = store.run(run_id)
    if row is None:
        raise NotRevertible(f"there is no run {run_id}")
    if row["dry_run"] or row["status"] not in REVERTIBLE:
        raise NotRevertible(
            f"run {run_id} is {'a dry run' if row['dry_run'] else row['status']}: "
            "it changed nothing to revert"
        )
    if str(row["mode"]).startswith("migrate"):
        raise NotRevertible(
            f"run {run_id} is a handover between connectors: use `idpsync connectors migrate "
            "OLD NEW --undo`"
        )
    changes = store.changes(run_id)
    if not changes:
        raise NotRevertible(f"run {run_id} changed nothing")
    return row, changes


def revert_run(
    store: Store,
    run_id: int,
    settings: ConnectorSettings,
    *,
    dry_run: bool = False,
    allow_deletes: bool = False,
    allow_invariants: Collection[str] = (),
) -> RevertResult:
    """Undo run ``run_id`` of the connector ``settings`` belong to (see the module docstring).

    Raises :class:`NotRevertible` before anything is recorded when there is nothing to undo.
    """
    row, changes = _target(store, run_id)
    connector = str(row["connector"])
    new_id = store.start_run(connector, "revert", dry_run)
    result = RevertResult(new_id, run_id, "running")
    try:
        with store.transaction() as conn:
            lock(conn, connector)
            last = max(int(c["seq"]) for c in changes)
            later = _later(conn, connector, last, {str(c["source_id"]) for c in changes})
            current = store.load_directory(conn, connector)
            undo: Compensation = compensate(changes, current, later)
            result.plan, result.conflicts = undo.plan, undo.conflicts
            counts = store.counts(conn, connector)
            guard.check(
                undo.plan,
                settings.guard,
                guard.GuardContext(True, counts["active_users"], allow_deletes),
            )
            checks.before_apply(
                conn,
                store,
                connector,
                settings,
                undo.plan,
                counts,
                allow_deletes=allow_deletes,
                allow_invariants=allow_invariants,
                current=current,
            )
            if dry_run:
                raise Rollback
            apply_plan(store, conn, connector, new_id, undo.plan)
            result.status = "succeeded"
            _finish(store, result, conn)
    except Rollback:
        result.status = "dry_run"
    except guard.GuardRefused as exc:
        result.status, result.message = "guarded", str(exc)
    except Exception as exc:  # rolled back; the run ends failed with one line
        result.status, result.message = "failed", failure_message(exc, store.engine.url)
    if result.status != "succeeded":
        _finish(store, result, None)
    return result


def _finish(store: Store, result: RevertResult, conn: Connection | None) -> None:
    extra: dict[str, Any] = {
        "reverts": result.reverted,
        "conflicts": [asdict(c) for c in result.conflicts],
        "warnings": [f"not reverted: {c.op} {c.key}: {c.reason}" for c in result.conflicts],
    }
    if result.status != "succeeded":
        extra["planned"] = [report.op_entry(op) for op in result.plan.ops]
    message = result.message or (
        f"revert of run {result.reverted}"
        + (f"; {len(result.conflicts)} changes left as they are" if result.conflicts else "")
    )
    store.finish_run(
        result.run_id,
        result.status,
        conn=conn,
        complete=True,
        summary=summarize(result.plan),
        message=message,
        report=extra,
    )
