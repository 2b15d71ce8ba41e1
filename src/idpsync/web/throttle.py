"""Sign-in throttling: failed sign-ins per client address and per user name lock the door.

After ``login_max_failures`` failed sign-ins within ``login_window`` seconds, from one client
address or for the administrator's name, every sign-in for that address or name is refused
with 429 — even with the right password — until the lockout ends. The first lockout lasts
``login_window`` seconds; each further one twice as long as the one before (at most a day).
A successful sign-in clears the counters of its address and name.

The counters live in the store (table ``login_failures``) so that every instance behind one
address counts the same failures. Only the configured administrator's name is counted per
name: any other name is wrong anyway and counts against the address alone (so that guessing
names cannot fill the table).

:class:`Policy` is the pure part (a record and the time in, the next record out); the
functions below it read and write the rows.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from idpsync.store import schema as t
from idpsync.store.store import Store

LONGEST_LOCKOUT = timedelta(days=1)
FORGET_AFTER = timedelta(days=2)


@dataclass(frozen=True)
class Failures:
    """The failed sign-ins of one key."""

    failures: int
    """Failures in the current window."""
    first_at: datetime
    """When the current window began (its first failure)."""
    locked_until: datetime | None
    """The end of the lockout the failures caused, if any."""
    lockouts: int
    """Lockouts since the last successful sign-in (each doubles the next one's length)."""


@dataclass(frozen=True)
class Policy:
    """How many failures in which window lock a key out."""

    max_failures: int
    """Failures within ``window`` that cause a lockout."""
    window: timedelta
    """The counting window, and the first lockout's length."""

    def locked_until(self, record: Failures | None, now: datetime) -> datetime | None:
        """The end of the key's lockout, if it is locked at ``now``."""
        if record is None or record.locked_until is None or record.locked_until <= now:
            return None
        return record.locked_until

    def after_failure(self, record: Failures | None, now: datetime) -> Failures:
        """The key's record after one more failed sign-in at ``now``."""
        if record is None:
            record = Failures(0, now, None, 0)
        ended = record.locked_until is not None and record.locked_until <= now
        if ended or now - record.first_at >= self.window:
            record = Failures(0, now, None, record.lockouts)
        record = replace(record, failures=record.failures + 1)
        if record.failures < self.max_failures:
            return record
        length = min(self.window * 2**record.lockouts, LONGEST_LOCKOUT)
        return replace(record, locked_until=now + length, lockouts=record.lockouts + 1)


def keys(address: str | None, user_name: str, admin_user: str) -> list[str]:
    """The keys one sign-in attempt counts against."""
    found = [f"addr:{address or 'unknown'}"]
    if hmac.compare_digest(user_name.encode(), admin_user.encode()):
        found.append(f"user:{admin_user}"[:320])
    return found


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; they are UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def _read(conn: Connection, key: str, lock: bool = False) -> Failures | None:
    c = t.login_failures.c
    query = sa.select(c.failures, c.first_at, c.locked_until, c.lockouts).where(c.key == key)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        return None
    first_at = _aware(row.first_at)
    assert first_at is not None
    return Failures(row.failures, first_at, _aware(row.locked_until), row.lockouts)


def locked_until(store: Store, policy: Policy, names: list[str], now: datetime) -> datetime | None:
    """The latest end of a lockout among ``names`` at ``now`` (``None``: not locked)."""
    with store.engine.connect() as conn:
        ends = [policy.locked_until(_read(conn, key), now) for key in names]
    found = [end for end in ends if end is not None]
    return max(found) if found else None


def record_failure(store: Store, policy: Policy, names: list[str], now: datetime) -> None:
    """Count one failed sign-in against every key (and forget long-quiet keys)."""
    try:
        _write_failures(store, policy, names, now)
    except IntegrityError:  # another instance inserted the same key meanwhile: count again
        _write_failures(store, policy, names, now)


def _write_failures(store: Store, policy: Policy, names: list[str], now: datetime) -> None:
    c = t.login_failures.c
    with store.transaction() as conn:
        conn.execute(
            t.login_failures.delete().where(
                c.first_at < now - FORGET_AFTER,
                sa.or_(c.locked_until.is_(None), c.locked_until < now),
            )
        )
        for key in names:
            before = _read(conn, key, lock=True)
            after = policy.after_failure(before, now)
            values = {
                "failures": after.failures,
                "first_at": after.first_at,
                "locked_until": after.locked_until,
                "lockouts": after.lockouts,
            }
            if before is None:
                conn.execute(t.login_failures.insert().values(key=key, **values))
            else:
                conn.execute(t.login_failures.update().where(c.key == key).values(**values))


def clear(store: Store, names: list[str]) -> None:
    """Forget the failures of ``names`` (after a successful sign-in)."""
    with store.transaction() as conn:
        conn.execute(t.login_failures.delete().where(t.login_failures.c.key.in_(names)))
