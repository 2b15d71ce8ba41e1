"""``idpsync explain`` and the Explain pages: why a person is (or is not) synced.

Reads only: the connector's staged mirror (what its IdP last returned), the directory, the
change log and the targets' rows. The policy, collision checks, cleanup and planner run as a
full sync would run them on the staged mirror (:func:`~idpsync.app.deciding.decide_in_store`),
and :mod:`idpsync.engine.explain` picks out what concerns the one person. Nothing is written:
no run, no stage, no directory change.

With ``live`` (:func:`explain_live`) the person is first read from the IdP, as a single-user
sync reads them (:meth:`~idpsync.sources.base.Source.fetch_user`), and that record replaces
the staged one for the explanation; still no run is recorded (a source that refreshes an
OAuth token may save the new token, as any read does).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from idpsync.app.deciding import decide_in_store
from idpsync.app.failures import failure_message
from idpsync.config import LoadedConfig
from idpsync.engine import explain as ex
from idpsync.engine.explain_targets import TargetFacts, targets_step
from idpsync.model import DirUser, Snapshot, SourceUser
from idpsync.sources.base import Source
from idpsync.sources.clean import normalise
from idpsync.store import schema as t
from idpsync.store import stage
from idpsync.store.store import Store, fold


class LiveReadFailed(Exception):
    """``--live``: the IdP could not be read; the message says why (one line)."""


def explain_person(
    loaded: LoadedConfig,
    store: Store,
    connector: str,
    person: str,
    *,
    fetched: Snapshot | None = None,
    gone: str | None = None,
) -> ex.Explanation:
    """Explain ``person`` (IdP id, login, e-mail or display name) of ``connector``.

    ``fetched``: the person as the IdP returned them just now (``--live``), used instead of
    the staged record; ``gone``: the IdP id the IdP said just now it does not know (its staged
    record is left out). An unknown connector is a :class:`~idpsync.config.ConfigError`.
    """
    settings = loaded.connector(connector)
    live = fetched is not None or gone is not None
    result = ex.Explanation(connector, person, live=live)
    with store.read() as conn:
        staged = store.load_stage(conn, connector)
        if fetched is not None and fetched.users:
            staged = ex.with_fetched(staged, fetched)
        elif gone is not None:
            staged = ex.without(staged, gone)
        current = store.load_directory(conn, connector)
        user, how, directory = _identify(staged, current.users, person, fetched)
        anchor = user if user is not None else directory
        if anchor is None:
            result.near = ex.near_matches([*staged.users, *current.users.values()], person)
            return result
        sid = anchor.source_id
        result.source_id, result.matched_by = sid, how
        decision = decide_in_store(conn, store, connector, settings, staged, current=current)
        read = "just now, from the IdP (--live)" if live else _read_when(conn, connector, sid)
        result.directory_id = _row_id(conn, connector, sid)
        targets = _targets(conn, loaded, connector, sid)
        holders = _holders(conn, connector, sid, user) if user is not None else []
    in_scope = user is not None and sid not in decision.policy.out_of_scope
    result.steps = [
        ex.found_step(user, how, read, directory=current.users.get(sid)),
        ex.scope_step(staged, decision, settings, sid),
        ex.match_step(sid, decision, current.users, in_scope, holders),
        ex.plan_step(sid, decision),
        targets_step(True, targets),
    ]
    return result


async def explain_live(
    loaded: LoadedConfig, store: Store, connector: str, person: str, source: Source
) -> ex.Explanation:
    """Read ``person`` from the IdP first (as ``sync-user`` does), then explain; no run written.

    Raises :class:`LiveReadFailed` when the IdP cannot be read. When the IdP does not know the
    person, their staged record is left out: the steps say what the next run does then.
    """
    lookup = _lookup_key(loaded, store, connector, person)
    try:
        found = await source.fetch_user(lookup)
    except Exception as exc:  # a source error (or a bug): one line, no run recorded
        raise LiveReadFailed(failure_message(exc)) from None
    finally:
        await source.aclose()
    snap = normalise(found) if found is not None else None
    if snap is None or not snap.users:
        return explain_person(loaded, store, connector, person, gone=lookup)
    return explain_person(loaded, store, connector, person, fetched=snap)


def _lookup_key(loaded: LoadedConfig, store: Store, connector: str, person: str) -> str:
    """The IdP id of ``person`` when the store knows them, else ``person`` as typed."""
    loaded.connector(connector)
    with store.read() as conn:
        staged = store.load_stage(conn, connector)
        hit = ex.find(staged.users, person)
        if hit is None:
            hit = ex.find(list(store.load_directory(conn, connector).users.values()), person)
    return str(hit[0].source_id) if hit is not None else person


def _identify(
    staged: Snapshot, directory: dict[str, DirUser], person: str, fetched: Snapshot | None
) -> tuple[SourceUser | None, str | None, DirUser | None]:
    """The person's IdP record (if any), how they matched, and their directory user."""
    if fetched is not None and fetched.users:
        user = fetched.users[0]
        hit = ex.find([user], person)
        return user, hit[1] if hit else "IdP lookup", directory.get(user.source_id)
    found = ex.find(staged.users, person)
    if found is not None:
        user = found[0]
        return user, found[1], directory.get(user.source_id)
    owned = ex.find(list(directory.values()), person)
    if owned is None:
        return None, None, None
    return None, f"{owned[1]} (directory)", owned[0]


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value else "?"


def _read_when(conn: Connection, connector: str, sid: str) -> str:
    """Which run staged the record (or the latest run, for someone not staged)."""
    run_id = stage.last_read(conn, connector, sid)
    r = t.runs.c
    query = sa.select(r.id, r.mode, r.status, r.started_at).where(r.connector == connector)
    if run_id is not None:
        query = query.where(r.id == run_id)
    else:
        query = query.where(r.dry_run.is_(False)).order_by(r.id.desc()).limit(1)
    row = conn.execute(query).first()
    if row is None:
        return "no run of this connector has read the IdP yet"
    what = "staged by" if run_id is not None else "the last run was"
    return f"{what} run {row.id} ({row.mode}, {row.status}, {_when(row.started_at)})"


def _holders(conn: Connection, connector: str, sid: str, user: SourceUser) -> list[str]:
    """Other directory users whose login or e-mail address is the person's (folded)."""
    u = t.users.c
    same = [u.login_key == fold(user.login)]
    if user.email:
        same.append(u.email_key == fold(user.email))
    rows = conn.execute(
        sa.select(u.id, u.login, u.connector)
        .where(sa.or_(*same))
        .where(sa.or_(u.connector.is_(None), u.connector != connector, u.source_id != sid))
        .order_by(u.id)
        .limit(5)
    )
    return [
        f"{'local user' if r.connector is None else f'a user of connector {r.connector}'} "
        f"{r.login} (directory user {r.id})"
        for r in rows
    ]


def _row_id(conn: Connection, connector: str, sid: str) -> int | None:
    u = t.users.c
    value = conn.execute(
        sa.select(u.id).where(u.connector == connector, u.source_id == sid)
    ).scalar()
    return int(value) if value is not None else None


def _targets(conn: Connection, loaded: LoadedConfig, connector: str, sid: str) -> list[TargetFacts]:
    """Where each enabled target that follows ``connector`` stands for user ``sid``."""
    result = []
    for name, settings in sorted(loaded.settings.targets.items()):
        if not settings.enabled or (settings.connectors and connector not in settings.connectors):
            continue
        row = conn.execute(sa.select(t.targets).where(t.targets.c.name == name)).first()
        cursor = int(row.cursor) if row is not None else 0
        c = t.changes.c
        mine = (c.connector == connector, c.object_type == "user", c.source_id == sid)
        last, waiting = conn.execute(
            sa.select(sa.func.max(c.seq), sa.func.count(sa.case((c.seq > cursor, 1)))).where(*mine)
        ).one()
        o = t.target_objects.c
        remote = conn.execute(
            sa.select(o.remote_id).where(
                o.target == name,
                o.object_type == "user",
                o.connector == connector,
                o.source_id == sid,
            )
        ).scalar()
        result.append(
            TargetFacts(
                name,
                None if row is None else str(row.status),
                cursor,
                None if last is None else int(last),
                int(waiting or 0),
                None if remote is None else str(remote),
                _rejections(conn, name, connector, sid),
                None if row is None else row.last_error,
            )
        )
    return result


def _rejections(conn: Connection, target: str, connector: str, sid: str) -> tuple[str, ...]:
    f = t.target_failures.c
    rows = conn.execute(
        sa.select(f.op, f.attempts, f.reason, f.next_attempt_at)
        .where(
            f.target == target,
            f.connector == connector,
            sa.or_(
                sa.and_(f.object_type == "user", f.source_id == sid),
                sa.and_(f.member_kind == "user", f.member_id == sid),
            ),
        )
        .order_by(f.seq)
    )
    return tuple(
        f"{r.op}: {r.reason} (attempt {r.attempts}, next try {_when(r.next_attempt_at)})"
        for r in rows
    )
