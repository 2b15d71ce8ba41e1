"""The audit trail: who did what, and when — append-only.

This module is the store's whole interface to the ``audit`` table: :func:`append` adds a row,
:func:`entries` and :func:`export_rows` read them, :func:`last_at` finds the latest of a kind
(to write a token's use once an hour, not on every request). There is deliberately no way to
change or remove a row, and on the database itself triggers refuse ``UPDATE`` and ``DELETE``;
retention, if any, is the database administrator's call.

Actors are written as ``user:<name>`` (a signed-in page user), ``token:<name>`` (an API
token), ``scheduler`` (the service's schedule), ``cli:<os user>`` (a command run on the host)
and ``anonymous`` (a failed sign-in: the name typed is not written, it may be a password).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from idpsync.store import schema as t
from idpsync.store.store import Store

ACTIONS = (
    "login",
    "login_failed",
    "logout",
    "sync",
    "sync_user",
    "deliver",
    "approve",
    "dismiss",
    "token_create",
    "token_revoke",
    "token_use",
    "refused",
    "migrate",
    "migrate_undo",
)
"""The actions written to the trail."""


@dataclass(frozen=True)
class Filter:
    """Which audit rows to read: by actor and action (exact), newest first, one page."""

    actor: str | None = None
    action: str | None = None
    limit: int = 50
    offset: int = 0


def _now() -> datetime:
    return datetime.now(UTC)


def append(
    store: Store,
    actor: str,
    action: str,
    subject: str | None = None,
    *,
    address: str | None = None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> int:
    """Add one row to the trail (committed at once); its id."""
    with store.transaction() as conn:
        result = conn.execute(
            t.audit.insert().values(
                at=at or _now(),
                actor=actor[:320],
                action=action[:32],
                subject=subject[:320] if subject is not None else None,
                address=address[:64] if address is not None else None,
                detail=detail or {},
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])


def _where(query: sa.Select[Any], wanted: Filter) -> sa.Select[Any]:
    c = t.audit.c
    if wanted.actor:
        query = query.where(c.actor == wanted.actor)
    if wanted.action:
        query = query.where(c.action == wanted.action)
    return query


def _row(row: Any) -> dict[str, Any]:
    at = row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC)
    return {
        "id": int(row.id),
        "at": at.isoformat(),
        "actor": row.actor,
        "action": row.action,
        "subject": row.subject,
        "address": row.address,
        "detail": dict(row.detail or {}),
    }


def entries(store: Store, wanted: Filter = Filter()) -> list[dict[str, Any]]:
    """One page of the trail, newest first, as JSON-ready dicts."""
    query = _where(sa.select(t.audit), wanted).order_by(t.audit.c.id.desc())
    query = query.limit(wanted.limit).offset(wanted.offset)
    with store.read() as conn:
        return [_row(r) for r in conn.execute(query)]


def export_rows(
    store: Store, wanted: Filter = Filter(), batch: int = 1000
) -> Iterator[dict[str, Any]]:
    """Every row that matches (``limit``/``offset`` ignored), oldest first, read in batches."""
    after = 0
    while True:
        query = _where(sa.select(t.audit), wanted).where(t.audit.c.id > after)
        with store.read() as conn:
            rows = [_row(r) for r in conn.execute(query.order_by(t.audit.c.id).limit(batch))]
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1]["id"]


def actors(store: Store) -> list[str]:
    """The actors that appear in the trail (for the page's filter), sorted."""
    with store.read() as conn:
        return sorted(str(a) for (a,) in conn.execute(sa.select(t.audit.c.actor).distinct()))


def last_at(store: Store, actor: str, action: str) -> datetime | None:
    """When ``actor`` last did ``action`` (``None``: never)."""
    c = t.audit.c
    query = sa.select(sa.func.max(c.at)).where(c.actor == actor, c.action == action)
    with store.read() as conn:
        found = conn.execute(query).scalar()
    if not isinstance(found, datetime):
        return None
    return found if found.tzinfo else found.replace(tzinfo=UTC)
