"""Single-user sync (``idpsync sync-user``): one user's changes, nobody else's.

What an application calls at login time. The source reads one user
(:meth:`~idpsync.sources.base.Source.fetch_user`); the policy runs on that user against the
slice of the directory that concerns them (the user, the groups they are in, their own
memberships), with every other name of the connector counted as taken, so collisions are
still caught. Nothing outside the slice can be planned, so nobody else is ever deactivated,
deleted or taken out of a group.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from idpsync.app import photo_round
from idpsync.app.deciding import decide_in_store
from idpsync.app.failures import failure_message
from idpsync.app.runner import Rollback, RunResult, lock
from idpsync.config import ConnectorSettings
from idpsync.engine import report
from idpsync.engine.collisions import Taken
from idpsync.engine.decide import Decision
from idpsync.engine.plan import Plan
from idpsync.engine.policy import always_group_id
from idpsync.engine.skeleton import collision_key
from idpsync.model import DirectoryState, MemberKind, Snapshot
from idpsync.sources.base import Source
from idpsync.sources.clean import normalise
from idpsync.store import schema as t
from idpsync.store.apply import apply_plan
from idpsync.store.store import Store, fold


async def run_sync_user(
    store: Store,
    name: str,
    settings: ConnectorSettings,
    source: Source,
    key: str,
    *,
    dry_run: bool = False,
    actor: str | None = None,
) -> RunResult:
    """Sync one user (``idpsync sync-user``): only that user's changes, never anyone else's.

    ``key`` is a directory login, an IdP id, or whatever the source can look a user up by.
    The user, the groups they are in and their own memberships are created or updated; their
    memberships the IdP no longer lists are removed. Nobody else is deactivated, deleted or
    taken out of a group, whatever the rest of the IdP looks like. A user who is out of the
    connector's scope or not found is reported and left as they are (the next full sync
    applies the cleanup policy).
    """
    run_id = store.start_run(name, "user", dry_run, actor)
    if settings.shadow_of:
        message = f"{name} is a shadow of {settings.shadow_of}: it never changes the directory"
        store.finish_run(run_id, "failed", message=message)
        return RunResult(run_id, "failed", message=message, complete=False)
    lookup = _directory_id(store, name, key)
    try:
        before = photo_round.prepare(store, name, source)
        found = await source.fetch_user(lookup)
        snap = None if found is None else normalise(found)
    except Exception as exc:  # a source error or a bug: failed with one line, never running
        message = failure_message(exc)
        store.finish_run(run_id, "failed", message=message)
        return RunResult(run_id, "failed", message=message, complete=False)
    if snap is None or not snap.users:
        message = f"no user {key!r} in the IdP; nothing was changed"
        if snap is not None and snap.skipped:
            message = f"user {key!r} cannot be synced: {snap.skipped[0].reason}"
        store.finish_run(run_id, "failed", message=message)
        return RunResult(run_id, "failed", message=message, complete=False)
    result = RunResult(run_id, "running", complete=snap.complete)
    try:
        photos = None if dry_run else await photo_round.download(source, snap, before, whole=False)
        with store.transaction() as conn:
            lock(conn, name)
            store.ensure_connector(conn, name, source.type)
            decision = _decide_one(conn, store, name, settings, snap)
            result.plan, result.details = decision.plan, report.details(decision)
            sid = snap.users[0].source_id
            if sid in decision.policy.out_of_scope:
                result.message = (
                    f"user {key!r} is out of the connector's scope "
                    f"({decision.policy.out_of_scope[sid]}); nothing was changed"
                )
                result.plan = Plan()
            if dry_run:
                raise Rollback
            apply_plan(store, conn, name, run_id, result.plan)
            if photos is not None:  # this user's photo, when its version is new
                photo_round.record(conn, name, photos, snap, whole=False)
                if photos.active:
                    result.details["photos"] = photos.report()
            result.status = "succeeded"
            store.finish_run(
                run_id,
                "succeeded",
                conn=conn,
                complete=snap.complete,
                summary=result.summary(),
                message=result.message or None,
                report=result.details,
            )
    except Rollback:
        result.status = "dry_run"
        store.finish_run(
            run_id,
            "dry_run",
            complete=snap.complete,
            summary=result.summary(),
            message=result.message or None,
            report={**result.details, "planned": [report.op_entry(op) for op in result.plan.ops]},
        )
    except Exception as exc:  # rolled back: failed with one line, never left running
        result.status, result.message = "failed", failure_message(exc)
        store.finish_run(run_id, "failed", complete=snap.complete, message=result.message)
    return result


def _directory_id(store: Store, name: str, key: str) -> str:
    """The IdP id of the connector's user with login ``key``, else ``key`` itself."""
    u = t.users.c
    with store.engine.connect() as conn:
        row = conn.execute(
            sa.select(u.source_id).where(u.connector == name, u.login_key == fold(key))
        ).first()
    return str(row.source_id) if row is not None else key


def _decide_one(
    conn: Connection, store: Store, name: str, settings: ConnectorSettings, snap: Snapshot
) -> Decision:
    """Plan one user against the slice of the directory that concerns them."""
    full = store.load_directory(conn, name)
    sid = snap.users[0].source_id
    groups = {g.source_id for g in snap.groups} | {
        always_group_id(n) for n in settings.policy.groups.always
    }
    current = DirectoryState(
        users={k: v for k, v in full.users.items() if k == sid},
        groups={k: v for k, v in full.groups.items() if k in groups},
        memberships={
            m
            for m in full.memberships
            if (m.member_kind is MemberKind.USER and m.member_id == sid)
            # group-in-group edges among the user's groups (else they would be added twice)
            or (m.member_kind is MemberKind.GROUP and {m.group_id, m.member_id} <= groups)
        },
    )
    others = Taken(
        {
            collision_key(u.login): f"another user of this connector (IdP id {k})"
            for k, u in full.users.items()
            if k != sid
        },
        {
            collision_key(u.email): f"another user of this connector (IdP id {k})"
            for k, u in full.users.items()
            if k != sid and u.email
        },
        {
            collision_key(g.name): "another group of this connector"
            for k, g in full.groups.items()
            if k not in groups
        },
    )
    one = settings.model_copy(
        update={
            "policy": settings.policy.model_copy(
                update={"delete_groups": False, "relink_recreated": False}
            )
        }
    )
    return decide_in_store(conn, store, name, one, snap, extra_taken=others, current=current)
