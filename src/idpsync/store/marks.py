"""Store queries of the sync policy: missing users, local deactivations, taken names, run facts.

Plain functions on an open connection (the runner's transaction), next to the
:class:`~idpsync.store.store.Store` methods they complement.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from idpsync.engine.cleanup import Missing
from idpsync.engine.collisions import Taken
from idpsync.engine.skeleton import collision_key, skeleton
from idpsync.store import schema as t
from idpsync.store.store import _chunks, fold

FLAG_RUN_MODE = "local"
"""``runs.mode`` of the run that records a local administrator's change."""


def missing_marks(conn: Connection, connector: str) -> dict[str, Missing]:
    """Owned users currently counted as missing, by source id."""
    u = t.users.c
    rows = conn.execute(
        sa.select(u.source_id, u.missing_since, u.missing_runs).where(
            u.connector == connector, _missing()
        )
    )
    return {r.source_id: Missing(_aware(r.missing_since), int(r.missing_runs)) for r in rows}


def _missing() -> Any:
    """The condition of an owned user counted as missing (:func:`missing_marks`)."""
    u = t.users.c
    return sa.or_(u.missing_runs > 0, u.missing_since.is_not(None))


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:  # SQLite returns naive datetimes
        return value.replace(tzinfo=UTC)
    return value


def user_marks(conn: Connection, connector: str) -> tuple[dict[str, Missing], set[str]]:
    """:func:`missing_marks` and :func:`locally_disabled` in one read of the owned users."""
    u = t.users.c
    rows = conn.execute(
        sa.select(u.source_id, u.missing_since, u.missing_runs, u.locally_disabled).where(
            u.connector == connector,
            sa.or_(_missing(), u.locally_disabled.is_(True)),
        )
    )
    missing: dict[str, Missing] = {}
    disabled: set[str] = set()
    for r in rows:
        if r.missing_runs > 0 or r.missing_since is not None:  # _missing(), row by row
            missing[r.source_id] = Missing(_aware(r.missing_since), int(r.missing_runs))
        if r.locally_disabled:
            disabled.add(r.source_id)
    return missing, disabled


def track_missing(
    conn: Connection, connector: str, missing: Mapping[str, Missing], present: Iterable[str]
) -> None:
    """Record this run's missing users and clear the marks of users who are back."""
    u = t.users.c
    before = missing_marks(conn, connector)
    back = [sid for sid in present if sid in before and sid not in missing]
    for chunk in _chunks(back, 500):
        conn.execute(
            t.users.update()
            .where(u.connector == connector, u.source_id.in_(chunk))
            .values(missing_since=None, missing_runs=0)
        )
    rows = [{"s": sid, "since": m.since, "runs": m.runs} for sid, m in missing.items()]
    if rows:
        conn.execute(
            t.users.update()
            .where(u.connector == connector, u.source_id == sa.bindparam("s"))
            .values(missing_since=sa.bindparam("since"), missing_runs=sa.bindparam("runs")),
            rows,
        )


def _owner(connector: str | None) -> str:
    return f"a user of connector {connector}" if connector else "a local user"


def taken_names(
    conn: Connection,
    connector: str,
    logins: Iterable[str],
    emails: Iterable[str],
    group_names: Iterable[str],
) -> Taken:
    """Which of the given names (or look-alikes) local objects or other connectors hold.

    ``Taken`` is keyed by :func:`~idpsync.engine.skeleton.collision_key`. Rows without a
    stored skeleton (written before it existed, or by other tools) are compared by their
    folded key, whose skeleton is the collision key.
    """
    u, g = t.users.c, t.groups.c
    foreign_u = sa.or_(u.connector.is_(None), u.connector != connector)
    foreign_g = sa.or_(g.connector.is_(None), g.connector != connector)
    found: dict[str, dict[str, str]] = {"login": {}, "email": {}, "group": {}}
    queries: list[tuple[str, Any, Any, Any, Any]] = [
        ("login", u.login_key, u.login_skeleton, foreign_u, u.connector),
        ("email", u.email_key, u.email_skeleton, foreign_u, u.connector),
        ("group", g.name_key, g.name_skeleton, foreign_g, g.connector),
    ]
    wanted = {"login": logins, "email": emails, "group": group_names}
    others: dict[str, int] = {}  # foreign rows per table, counted once (logins and e-mails)
    for kind, column, skel, foreign, owner in queries:
        names = {v for v in wanted[kind] if v}
        table = "groups" if kind == "group" else "users"
        if not names:
            continue
        if table not in others:
            others[table] = conn.execute(sa.select(sa.func.count()).where(foreign)).scalar_one()
        if not others[table]:  # nothing foreign (one connector, no local objects): none taken
            continue  # and no keys made (at L 205k names, ≈0.1 s of sets and cache lookups)
        keys = {collision_key(v) for v in names}
        where = (column, skel, foreign, owner)
        for key, what in _holders(conn, kind, where, names, keys, others[table]):
            found[kind].setdefault(key, what)
    return Taken(found["login"], found["email"], found["group"])


def _holders(
    conn: Connection,
    kind: str,
    where: tuple[Any, Any, Any, Any],
    names: set[str],
    keys: set[str],
    others: int,
) -> Iterator[tuple[str, str]]:
    """(collision key, who holds it) of the foreign rows matching ``keys`` (``others`` rows)."""
    column, skel, foreign, owner = where
    if others <= len(keys):
        # Fewer foreign rows than names (one connector, few local objects): read them all
        # rather than look the names up 500 at a time.
        rows: Iterable[Any] = conn.execute(sa.select(column, skel, owner).where(foreign))
    else:
        folded = sorted({fold(v) for v in names})
        rows = (
            row
            for chunk in _chunks(sorted(keys), 500)
            for row in conn.execute(sa.select(column, skel, owner).where(skel.in_(chunk), foreign))
        )
        rows = itertools.chain(
            rows,
            (
                row
                for chunk in _chunks(folded, 500)
                for row in conn.execute(
                    sa.select(column, skel, owner).where(column.in_(chunk), skel.is_(None), foreign)
                )
            ),
        )
    for row in rows:
        if row[0] is None:  # a user without an e-mail address
            continue
        key = row[1] if row[1] is not None else skeleton(row[0])
        if key in keys:
            yield key, _holder(kind, row[2])


def _holder(kind: str, owner: str | None) -> str:
    if kind != "group":
        return _owner(owner)
    return f"a group of connector {owner}" if owner else "a local group"


def last_good_read(conn: Connection, connector: str) -> tuple[int | None, int | None]:
    """``(run id, users read)`` of the newest complete, applied run that recorded its read."""
    r = t.runs.c
    rows = conn.execute(
        sa.select(r.id, r.stats)
        .where(
            r.connector == connector,
            r.status == "succeeded",
            r.complete.is_(True),
            r.dry_run.is_(False),
        )
        .order_by(r.id.desc())
        .limit(50)
    )
    for row in rows:
        count = (row.stats or {}).get("source_users")
        if isinstance(count, int):
            return int(row.id), count
    return None, None
