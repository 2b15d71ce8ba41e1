"""A target's rows in the store: cursor and status, object map, rejected changes.

Every method commits on its own (short transactions), so a delivery that stops half-way keeps
everything the target already confirmed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from idpsync.store import schema as t
from idpsync.store.store import Store, now

OK, DOWN, QUARANTINED, BUSY = "ok", "down", "quarantined", "busy"
FAILED_ROUNDS = t.targets.c.failed_rounds
"""Consecutive deliveries that ended ``down`` or ``quarantined``."""
LEASE_SECONDS = 900.0
"""How long a delivery's lease lasts without progress; every confirmed change renews it."""


@dataclass(frozen=True, slots=True)
class FailureKey:
    """What a rejected change was about: a user, a group, or one membership."""

    object_type: str
    """``user``, ``group`` or ``member``."""
    connector: str
    """The owning connector."""
    source_id: str
    """The user's or group's source id (for a membership: the group's)."""
    member_kind: str = ""
    """For a membership: ``user`` or ``group``."""
    member_id: str = ""
    """For a membership: the member's source id."""


class TargetState:
    """Cursor, status, object map and failures of one target."""

    def __init__(self, store: Store, name: str) -> None:
        self.store = store
        self.name = name

    def row(self) -> dict[str, Any]:
        """The target's row, created (cursor 0, status ok) on first use."""
        with self.store.transaction() as conn:
            row = conn.execute(sa.select(t.targets).where(t.targets.c.name == self.name)).first()
            if row is None:
                values = {"name": self.name, "cursor": 0, "status": OK, "updated_at": now()}
                conn.execute(t.targets.insert().values(**values))
                return {
                    **values,
                    "last_error": None,
                    "last_delivery_at": None,
                    "lease_owner": None,
                    "lease_until": None,
                    "failed_rounds": 0,
                }
            return dict(row._mapping)

    def acquire(self, owner: str, seconds: float = LEASE_SECONDS) -> str | None:
        """Take the delivery lease; return ``None``, or the owner holding it now."""
        self.row()
        tc = t.targets.c
        stamp = now()
        with self.store.transaction() as conn:
            taken = conn.execute(
                t.targets.update()
                .where(
                    tc.name == self.name,
                    sa.or_(
                        tc.lease_owner.is_(None), tc.lease_owner == owner, tc.lease_until < stamp
                    ),
                )
                .values(lease_owner=owner, lease_until=lease_deadline(seconds))
            ).rowcount
            if taken == 1:
                return None
            holder = conn.execute(sa.select(tc.lease_owner).where(tc.name == self.name))
            return str(holder.scalar())

    def release(self, owner: str) -> None:
        """Give the delivery lease back."""
        tc = t.targets.c
        with self.store.transaction() as conn:
            conn.execute(
                t.targets.update()
                .where(tc.name == self.name, tc.lease_owner == owner)
                .values(lease_owner=None, lease_until=None)
            )

    def record_round(self, status: str, **values: Any) -> None:
        """Record a delivery's outcome: ``failed_rounds`` restarts at 0 after a good one."""
        rounds = 0 if status in (OK, "dry_run") else FAILED_ROUNDS + 1
        self.update(status=status, failed_rounds=rounds, **values)

    def update(self, **values: Any) -> None:
        """Set columns of the target's row (``cursor``, ``status``, ``last_error``…)."""
        with self.store.transaction() as conn:
            conn.execute(
                t.targets.update()
                .where(t.targets.c.name == self.name)
                .values(updated_at=now(), **values)
            )

    # -- object map ---------------------------------------------------------------------------

    def remote_ids(self, object_type: str) -> dict[tuple[str, str], str]:
        """``{(connector, source id): remote id}`` for users or groups."""
        o = t.target_objects.c
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(o.connector, o.source_id, o.remote_id).where(
                    o.target == self.name, o.object_type == object_type
                )
            )
            return {(r.connector, r.source_id): r.remote_id for r in rows}

    def remote_id(self, object_type: str, connector: str, source_id: str) -> str | None:
        """The remote id of one user or group, or ``None``."""
        o = t.target_objects.c
        with self.store.engine.connect() as conn:
            value = conn.execute(
                sa.select(o.remote_id).where(
                    o.target == self.name,
                    o.object_type == object_type,
                    o.connector == connector,
                    o.source_id == source_id,
                )
            ).scalar()
            return str(value) if value is not None else None

    def set_remote_id(
        self,
        object_type: str,
        connector: str,
        source_id: str,
        remote_id: str,
        *,
        adopted: bool = False,
        active: bool | None = None,
    ) -> None:
        """Record (or replace) which remote object stands for a directory object.

        ``active`` (users): whether it is active in the target; ``None`` keeps what was known.
        The photo bookkeeping stays while the remote object is the same one.
        """
        if active is None and object_type == "user":
            active = self.active_of(connector, source_id)
        o = t.target_objects.c
        with self.store.engine.connect() as conn:
            kept = conn.execute(
                sa.select(o.photo_digest, o.photo_pending).where(
                    o.target == self.name,
                    o.object_type == object_type,
                    o.connector == connector,
                    o.source_id == source_id,
                    o.remote_id == remote_id,
                )
            ).first()
        self.forget(object_type, connector, source_id)
        with self.store.transaction() as conn:
            conn.execute(
                t.target_objects.insert().values(
                    target=self.name,
                    object_type=object_type,
                    connector=connector,
                    source_id=source_id,
                    remote_id=remote_id,
                    adopted=adopted,
                    updated_at=now(),
                    active=active,
                    photo_digest=kept.photo_digest if kept else None,
                    photo_pending=bool(kept.photo_pending) if kept else False,
                )
            )

    def active_of(self, connector: str, source_id: str) -> bool | None:
        """Whether a mapped user is active in the target (``None``: not known or not mapped)."""
        o = t.target_objects.c
        with self.store.engine.connect() as conn:
            value = conn.execute(
                sa.select(o.active).where(*self._user_where(connector, source_id))
            ).scalar()
            return None if value is None else bool(value)

    def set_active(self, connector: str, source_id: str, active: bool) -> bool | None:
        """Record a mapped user's active state in the target; return the one known before."""
        before = self.active_of(connector, source_id)
        with self.store.transaction() as conn:
            conn.execute(
                t.target_objects.update()
                .where(*self._user_where(connector, source_id))
                .values(active=active)
            )
        return before

    def _user_where(self, connector: str, source_id: str) -> list[Any]:
        o = t.target_objects.c
        return [
            o.target == self.name,
            o.object_type == "user",
            o.connector == connector,
            o.source_id == source_id,
        ]

    def forget(self, object_type: str, connector: str, source_id: str) -> None:
        """Drop a directory object's mapping (after it was deleted in the target)."""
        o = t.target_objects.c
        with self.store.transaction() as conn:
            conn.execute(
                t.target_objects.delete().where(
                    o.target == self.name,
                    o.object_type == object_type,
                    o.connector == connector,
                    o.source_id == source_id,
                )
            )

    # -- failures -----------------------------------------------------------------------------

    def record_failure(
        self, key: FailureKey, seq: int, op: str, reason: str, base: float, cap: float
    ) -> None:
        """Record a rejected change; the next attempt waits ``base·2ⁿ`` seconds (≤ ``cap``)."""
        f = t.target_failures.c
        where = self._failure_where(key)
        with self.store.transaction() as conn:
            attempts = conn.execute(sa.select(f.attempts).where(*where)).scalar() or 0
            conn.execute(t.target_failures.delete().where(*where))
            wait = min(cap, base * 2**attempts)
            conn.execute(
                t.target_failures.insert().values(
                    target=self.name,
                    object_type=key.object_type,
                    connector=key.connector,
                    source_id=key.source_id,
                    member_kind=key.member_kind,
                    member_id=key.member_id,
                    seq=seq,
                    op=op,
                    attempts=attempts + 1,
                    reason=reason[:2000],
                    next_attempt_at=now() + timedelta(seconds=wait),
                    updated_at=now(),
                )
            )

    def clear_failure(self, key: FailureKey) -> None:
        """Forget a failure after the object was delivered."""
        with self.store.transaction() as conn:
            conn.execute(t.target_failures.delete().where(*self._failure_where(key)))

    def failures(self, due_before: datetime | None = None) -> list[dict[str, Any]]:
        """Recorded failures (only those due by ``due_before`` when given), oldest first."""
        f = t.target_failures.c
        query = sa.select(t.target_failures).where(f.target == self.name).order_by(f.seq)
        if due_before is not None:
            query = query.where(f.next_attempt_at <= due_before)
        with self.store.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def clear_failures(self) -> None:
        """Forget every failure (after a reconcile fixed the whole target)."""
        with self.store.transaction() as conn:
            conn.execute(t.target_failures.delete().where(t.target_failures.c.target == self.name))

    def _failure_where(self, key: FailureKey) -> list[Any]:
        f = t.target_failures.c
        return [
            f.target == self.name,
            f.object_type == key.object_type,
            f.connector == key.connector,
            f.source_id == key.source_id,
            f.member_kind == key.member_kind,
            f.member_id == key.member_id,
        ]


def lease_deadline(seconds: float = LEASE_SECONDS) -> datetime:
    """When a lease taken or renewed now runs out."""
    return now() + timedelta(seconds=seconds)


def pending_changes(
    store: Store, after: int, connectors: Sequence[str], limit: int = 1000
) -> list[dict[str, Any]]:
    """Change-log rows after ``after`` for the given connectors (all when empty), in order."""
    c = t.changes.c
    query = sa.select(t.changes).where(c.seq > after).order_by(c.seq).limit(limit)
    if connectors:
        query = query.where(c.connector.in_(list(connectors)))
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def last_seq(store: Store, connectors: Sequence[str] = ()) -> int:
    """The newest change's ``seq`` (0 when the log is empty)."""
    c = t.changes.c
    query = sa.select(sa.func.max(c.seq))
    if connectors:
        query = query.where(c.connector.in_(list(connectors)))
    with store.engine.connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def known_connectors(store: Store) -> list[str]:
    """Every connector that ever ran."""
    with store.engine.connect() as conn:
        return [r.name for r in conn.execute(sa.select(t.connectors.c.name))]


def pending_count(store: Store, after: int, connectors: Sequence[str] = ()) -> int:
    """How many changes after ``after`` a target following ``connectors`` has yet to take."""
    c = t.changes.c
    query = sa.select(sa.func.count()).where(c.seq > after)
    if connectors:
        query = query.where(c.connector.in_(list(connectors)))
    with store.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())
