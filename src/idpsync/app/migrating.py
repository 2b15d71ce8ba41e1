"""``idpsync connectors migrate OLD NEW``: hand the old connector's people over to the new one.

The new connector's IdP must have been staged (usually by runs in shadow mode). The old
connector's directory users are paired with the new connector's staged users by
:func:`idpsync.app.compare.compare`. In one transaction, under both connectors' locks, recorded
as a run of the new connector with mode ``migrate``:

- every matched user keeps its directory row (id, local state, history): only ``connector``
  and ``source_id`` change to the new connector's; groups whose names match one staged group
  of the new connector move the same way, and the memberships between moved objects with them;
- every target's links (``target_objects``) and pending retries move along, so targets keep
  their accounts; each moved object gets a change-log row that updates its external id, and
  the new IdP's values (a changed e-mail, a new display name) are applied as updates;
- old users nobody matched follow the old connector's leaver policy (``deactivate`` or
  ``keep``), only when the administrator confirmed their number (``--confirm-leavers N``), and
  the guards check those deactivations as for a sync;
- the old connector is marked as migrated in the store: ``idpsync sync OLD`` refuses.

:func:`undo_migration` puts everything back (``migrate --undo``) as long as the new connector
has had no normal run since. A dry run (the default) or a refusal changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from idpsync.app import checks
from idpsync.app.compare import Comparison, OldUser, compare, mapper_for
from idpsync.app.deciding import decide_in_store
from idpsync.app.failures import failure_message
from idpsync.app.migrate_moves import (
    MIGRATION,
    Move,
    move_links,
    move_memberships,
    move_rows,
    pending_for,
)
from idpsync.app.runner import Rollback, lock, summarize
from idpsync.config import ConnectorSettings
from idpsync.engine import guard
from idpsync.engine.plan import Op, OpKind, Plan
from idpsync.errors import IdpsyncError
from idpsync.store import schema as t
from idpsync.store.apply import apply_plan
from idpsync.store.store import Store, fold, now

MODE, UNDO_MODE = "migrate", "migrate-undo"
Leavers = Literal["deactivate", "keep"]
UPDATES = (OpKind.UPDATE_USER, OpKind.DEACTIVATE_USER, OpKind.REACTIVATE_USER)


class MigrateRefused(IdpsyncError):
    """The migration (or its undo) cannot be done as asked; ``str()`` says why and what to do."""


@dataclass
class MigrateResult:
    """What a migration (or an undo) did, or would do."""

    old: str
    new: str
    status: str = "running"
    """``succeeded``, ``dry_run``, ``refused``, ``guarded`` or ``failed``."""
    run_id: int | None = None
    users: list[Move] = field(default_factory=list)
    """Users moved (or to move)."""
    groups: list[Move] = field(default_factory=list)
    """Groups moved (or to move)."""
    memberships: int = 0
    """Membership rows moved with them."""
    leavers: list[str] = field(default_factory=list)
    """Logins of the active old users nobody matched: those the leaver policy acts on, whose
    number ``--confirm-leavers`` takes (unmatched users already inactive need nothing)."""
    leaver_mode: str = "deactivate"
    plan: Plan = field(default_factory=Plan)
    """Updates and deactivations applied besides the moves (or planned)."""
    comparison: Comparison | None = None
    message: str = ""


def migration_of(store: Store, old: str) -> dict[str, Any] | None:
    """The handover recorded for connector ``old`` (``{"to", "run", …}``), or ``None``."""
    with store.read() as conn:
        state = store.connector_state(conn, old)
    value = state.get(MIGRATION)
    return dict(value) if isinstance(value, dict) else None


def migrate(
    store: Store,
    old: str,
    new: str,
    old_settings: ConnectorSettings,
    new_settings: ConnectorSettings,
    keys: Sequence[str],
    *,
    apply: bool = False,
    leavers: Leavers | None = None,
    confirm_leavers: int | None = None,
    allow_deletes: bool = False,
    actor: str | None = None,
    following: Mapping[str, Sequence[str]] | None = None,
) -> MigrateResult:
    """Hand ``old``'s matched people over to ``new`` (see the module docstring).

    ``following``: the connectors each configured target follows (``targets.NAME.connectors``),
    so that only targets following ``old`` must have taken its earlier changes.

    Raises :class:`MigrateRefused` (nothing recorded) when it cannot be done as asked, and
    :class:`~idpsync.app.compare.CompareError` for bad keys or a never-staged ``new``.
    """
    result = MigrateResult(old, new)
    existing = migration_of(store, old)
    if existing is not None:
        raise MigrateRefused(
            f"connector {old!r} was already handed over to {existing.get('to')!r} "
            f"(run {existing.get('run')})"
        )
    mode = leavers or _leaver_mode(old_settings)
    result.leaver_mode = mode
    result.comparison = comparison = compare(store, old, new, keys, mapper=mapper_for(new_settings))
    matched = {m.old_user_id: m for m in comparison.matched}
    gone = [u for uid, u in comparison.old_users.items() if uid not in matched]
    result.leavers = sorted(u.login for u in gone if u.active)
    off = _leaver_plan(gone, mode, new)
    if apply and off and confirm_leavers != len(off):
        raise MigrateRefused(
            f"{len(off)} active users of {old!r} have no match in {new!r} and would be "
            f"deactivated (the leaver policy): confirm with --confirm-leavers {len(off)}, "
            "or keep them with --leavers keep"
        )
    result.run_id = store.start_run(new, MODE, not apply, actor)
    try:
        with store.transaction() as conn:
            lock(conn, old)
            lock(conn, new)
            active_before = store.counts(conn, old)["active_users"]
            _check_free(conn, new, [m.new_source_id for m in comparison.matched])
            waiting = pending_for(conn, old, following)
            if waiting:
                raise MigrateRefused(
                    f"targets have undelivered changes of {old!r} ({waiting}): "
                    "run `idpsync deliver` first"
                )
            result.users = _user_moves(matched, comparison)
            result.groups = _group_moves(conn, store, old, new)
            apply_plan(store, conn, old, result.run_id, off)
            result.memberships = _move_all(conn, old, new, result, result.run_id)
            updates = _updates(conn, store, new, new_settings, result)
            result.plan = Plan(off.ops + updates.ops)
            context = guard.GuardContext(True, active_before, allow_deletes)
            guard.check(result.plan, old_settings.guard, context)
            apply_plan(store, conn, new, result.run_id, updates)
            if not apply:
                raise Rollback
            state = store.connector_state(conn, old)
            state[MIGRATION] = {"to": new, "run": result.run_id, "at": now().isoformat()}
            store.set_connector_state(conn, old, state)
            result.status = "succeeded"
            _finish(store, result, conn)
    except Rollback:
        result.status = "dry_run"
    except MigrateRefused as exc:
        result.status, result.message = "refused", str(exc)
    except guard.GuardRefused as exc:
        result.status, result.message = "guarded", str(exc)
    except Exception as exc:  # rolled back; the run ends failed with one line
        result.status, result.message = "failed", failure_message(exc, store.engine.url)
    if result.status != "succeeded":
        _finish(store, result, None)
    return result


def _leaver_plan(gone: Sequence[OldUser], mode: Leavers, new: str) -> Plan:
    """Deactivations of the active unmatched old users (nothing with ``keep``)."""
    if mode != "deactivate":
        return Plan()
    return Plan(
        [
            Op(
                OpKind.DEACTIVATE_USER,
                u.source_id,
                before={"active": True},
                after={"active": False},
                reason=f"no match in {new} at the handover",
                key=u.login,
            )
            for u in sorted(gone, key=lambda u: u.source_id)
            if u.active
        ]
    )


def _leaver_mode(settings: ConnectorSettings) -> Leavers:
    policy = settings.policy.deprovision
    if policy == "keep":
        return "keep"
    if policy == "deactivate":
        return "deactivate"
    raise MigrateRefused(
        f"the old connector's leaver policy is {policy!r}, which a handover does not do "
        "(it could not be undone): choose --leavers deactivate or --leavers keep"
    )


def _check_free(conn: Connection, new: str, source_ids: Iterable[str]) -> None:
    u = t.users.c
    wanted = sorted(source_ids)
    for chunk in checks.batches(wanted):
        taken = conn.execute(
            sa.select(u.login).where(u.connector == new, u.source_id.in_(chunk)).limit(3)
        ).scalars()
        names = list(taken)
        if names:
            raise MigrateRefused(
                f"connector {new!r} already owns directory users the handover would move "
                f"({', '.join(names)}…): it must have run in shadow mode only"
            )


def _user_moves(matched: dict[int, Any], comparison: Comparison) -> list[Move]:
    moves = []
    for uid, m in sorted(matched.items()):
        ou = comparison.old_users[uid]
        moves.append(Move(uid, ou.source_id, m.new_source_id, ou.login, f"matched by {m.key}"))
    return moves


def _group_moves(conn: Connection, store: Store, old: str, new: str) -> list[Move]:
    """Old groups whose folded name is held by exactly one staged group of ``new`` (and v.v.)."""
    staged: dict[str, list[str]] = {}
    for group in store.load_stage(conn, new).groups:
        staged.setdefault(fold(group.name), []).append(group.source_id)
    g = t.groups.c
    rows = conn.execute(sa.select(g.id, g.source_id, g.name).where(g.connector == old)).all()
    olds: dict[str, list[Any]] = {}
    for row in rows:
        olds.setdefault(fold(row.name), []).append(row)
    moves = []
    for name, found in sorted(olds.items()):
        if len(found) == 1 and len(staged.get(name, [])) == 1:
            row = found[0]
            moves.append(Move(int(row.id), row.source_id, staged[name][0], row.name, "same name"))
    return moves


def _move_all(conn: Connection, old: str, new: str, result: MigrateResult, run_id: int) -> int:
    """Move rows, memberships and target links from ``old`` to ``new``; log the handover."""
    move_rows(conn, t.users, old, new, result.users)
    move_rows(conn, t.groups, old, new, result.groups)
    count = move_memberships(conn, old, new, result.users, result.groups)
    move_links(conn, "user", old, new, result.users)
    move_links(conn, "group", old, new, result.groups)
    log_handover(conn, run_id, new, result.users, result.groups, f"handed over from {old}")
    return count


def log_handover(
    conn: Connection,
    run_id: int,
    connector: str,
    users: list[Move],
    groups: list[Move],
    reason: str,
    back: bool = False,
) -> None:
    """One change per moved object: its external id changes, so targets update it in place.

    ``back``: the objects went back to the old connector (an undo).
    """
    stamp = now()
    rows = [
        {
            "run_id": run_id,
            "connector": connector,
            "at": stamp,
            "op": f"{kind}.update",
            "object_type": kind,
            "source_id": move.old_id if back else move.new_id,
            "object_key": move.key,
            "before": {"external_id": move.new_id if back else move.old_id},
            "after": {"external_id": move.old_id if back else move.new_id},
            "reason": f"{reason} ({move.why})",
        }
        for kind, moves in (("group", groups), ("user", users))
        for move in moves
    ]
    if rows:
        conn.execute(t.changes.insert(), rows)


def _updates(
    conn: Connection, store: Store, new: str, settings: ConnectorSettings, result: MigrateResult
) -> Plan:
    """The new IdP's values for the moved users and groups, as updates (nothing else)."""
    staged = store.load_stage(conn, new)
    staged.complete = False  # never removals: only what the moved objects need
    decision = decide_in_store(conn, store, new, settings, staged)
    users = {m.new_id for m in result.users}
    groups = {m.new_id for m in result.groups}
    return Plan(
        [
            op
            for op in decision.plan.ops
            if (op.kind in UPDATES and op.source_id in users)
            or (op.kind is OpKind.UPDATE_GROUP and op.source_id in groups)
        ]
    )


def _finish(store: Store, result: MigrateResult, conn: Connection | None) -> None:
    if result.run_id is None:
        return
    report: dict[str, Any] = {
        "handover": {
            "from": result.old,
            "to": result.new,
            "users": [m.as_row() for m in result.users],
            "groups": [m.as_row() for m in result.groups],
            "memberships": result.memberships,
            "leavers": result.leavers,
            "leaver_mode": result.leaver_mode,
        }
    }
    message = result.message or (
        f"{len(result.users)} users and {len(result.groups)} groups handed over "
        f"from {result.old} to {result.new}"
    )
    store.finish_run(
        result.run_id,
        result.status if result.status != "refused" else "failed",
        conn=conn,
        complete=True,
        summary={
            **summarize(result.plan),
            "users_moved": len(result.users),
            "groups_moved": len(result.groups),
        },
        message=message,
        report=report,
    )
