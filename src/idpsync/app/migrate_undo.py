"""``idpsync connectors migrate OLD NEW --undo``: reverse a handover.

Possible as long as the new connector has had no normal run since the handover (a run that
read its IdP and changed the directory would have built on it). In one transaction, recorded
as a run of the old connector with mode ``migrate-undo``: the updates the handover applied are
undone, the moved users, groups and memberships go back to the old connector with their old
source ids (same directory ids), every target's links go back, the users the handover
deactivated as leavers are reactivated, and the old connector is enabled again.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from idpsync.app.failures import failure_message
from idpsync.app.migrate_moves import MIGRATION, Move, move_links, move_memberships_back, move_rows
from idpsync.app.migrating import (
    UNDO_MODE,
    MigrateRefused,
    MigrateResult,
    log_handover,
    migration_of,
)
from idpsync.app.runner import lock, summarize
from idpsync.engine.plan import Op, OpKind, Plan
from idpsync.store import schema as t
from idpsync.store.apply import apply_plan
from idpsync.store.store import Store

SYNC_MODES = ("full", "incremental", "user")
"""Runs that read the IdP and changed the directory (not shadow, local or revert runs)."""
_REVERSE = {
    "user.update": OpKind.UPDATE_USER,
    "user.deactivate": OpKind.REACTIVATE_USER,
    "user.reactivate": OpKind.DEACTIVATE_USER,
    "group.update": OpKind.UPDATE_GROUP,
}


def later_run(store: Store, new: str, run_id: int) -> int | None:
    """The first normal run of ``new`` that applied something after run ``run_id``."""
    r = t.runs.c
    with store.read() as conn:
        value = conn.execute(
            sa.select(sa.func.min(r.id)).where(
                r.connector == new,
                r.id > run_id,
                r.dry_run == sa.false(),
                r.status.in_(("succeeded", "partial")),
                r.mode.in_(SYNC_MODES),
            )
        ).scalar()
    return int(value) if value is not None else None


def undo_migration(store: Store, old: str, new: str, *, actor: str | None = None) -> MigrateResult:
    """Reverse the handover from ``old`` to ``new``; :class:`MigrateRefused` when it cannot."""
    done = migration_of(store, old)
    if done is None or done.get("to") != new:
        raise MigrateRefused(f"connector {old!r} has not been handed over to {new!r}")
    run_id = int(done["run"])
    after = later_run(store, new, run_id)
    if after is not None:
        raise MigrateRefused(
            f"{new!r} has had a normal run since the handover (run {after}): the handover can "
            f"no longer be undone; re-enable {old!r} by hand only with care"
        )
    row = store.run(run_id)
    handover = ((row or {}).get("report") or {}).get("handover") or {}
    result = MigrateResult(old, new)
    result.users = [Move.from_row(r) for r in handover.get("users", [])]
    result.groups = [Move.from_row(r) for r in handover.get("groups", [])]
    result.run_id = store.start_run(old, UNDO_MODE, False, actor)
    try:
        with store.transaction() as conn:
            lock(conn, old)
            lock(conn, new)
            result.plan = _compensation(store.changes(run_id), result, old)
            move_rows(conn, t.users, old, new, result.users, back=True)
            move_rows(conn, t.groups, old, new, result.groups, back=True)
            result.memberships = move_memberships_back(conn, old, new, result.groups)
            move_links(conn, "user", old, new, result.users, back=True)
            move_links(conn, "group", old, new, result.groups, back=True)
            log_handover(
                conn,
                result.run_id,
                old,
                result.users,
                result.groups,
                f"handed back from {new}",
                back=True,
            )
            apply_plan(store, conn, old, result.run_id, result.plan)
            state = store.connector_state(conn, old)
            state.pop(MIGRATION, None)
            store.set_connector_state(conn, old, state)
            result.status = "succeeded"
            _finish(store, result, run_id, conn)
    except Exception as exc:  # rolled back; the run ends failed with one line
        result.status, result.message = "failed", failure_message(exc, store.engine.url)
        _finish(store, result, run_id, None)
    return result


def _compensation(changes: list[dict[str, Any]], result: MigrateResult, old: str) -> Plan:
    """The operations that undo the handover's updates and deactivations, on ``old``'s ids."""
    back = {m.new_id: m.old_id for m in (*result.users, *result.groups)}
    ops = []
    for change in reversed(changes):
        kind = _REVERSE.get(str(change["op"]))
        before, after = change["before"] or {}, change["after"] or {}
        if kind is None or "external_id" in before:
            continue  # the handover's own rows: the moves undo them
        sid = str(change["source_id"])
        if change["connector"] != old:
            sid = back.get(sid, sid)
        ops.append(
            Op(
                kind,
                sid,
                before=after,
                after=before,
                reason="handover undone",
                key=change["object_key"] or sid,
            )
        )
    return Plan(ops)


def _finish(store: Store, result: MigrateResult, undone: int, conn: Any) -> None:
    assert result.run_id is not None
    store.finish_run(
        result.run_id,
        result.status,
        conn=conn,
        complete=True,
        summary={**summarize(result.plan), "users_moved": len(result.users)},
        message=result.message or f"handover of run {undone} from {old_name(result)} undone",
        report={"undoes": undone},
    )


def old_name(result: MigrateResult) -> str:
    """``OLD → NEW`` for messages."""
    return f"{result.old} to {result.new}"
