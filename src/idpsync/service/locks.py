"""Connector run locks: runs of one connector never overlap, across instances too.

On PostgreSQL a run holds a **session-level advisory lock** (``pg_try_advisory_lock``) on a
connection of its own for the whole run. If the process dies, PostgreSQL ends the session and
the lock is gone, so another instance can take the work. The key lives in the two-integer key
space (``7301, hashtext(connector)``), apart from the runner's transaction lock
(``pg_advisory_xact_lock(hashtext('idpsync:' || connector))``), so the two never block each
other.

On SQLite the lock is a lock of this process: one ``idpsync serve`` per SQLite store.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine

LOCK_NAMESPACE = 7301
"""First key of the two-integer advisory lock space used for connector runs."""

_LOCAL: dict[tuple[str, str], threading.Lock] = {}
_GUARD = threading.Lock()


class ConnectorLocks:
    """Non-blocking, per-connector run locks for one store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _thread_lock(self, connector: str) -> threading.Lock:
        """The process-wide lock of (database, connector)."""
        key = (self.engine.url.render_as_string(hide_password=True), connector)
        with _GUARD:
            return _LOCAL.setdefault(key, threading.Lock())

    @contextmanager
    def hold(self, connector: str) -> Iterator[bool]:
        """Try to take the connector's lock; yield whether it was taken, release on exit."""
        local = self._thread_lock(connector)
        if not local.acquire(blocking=False):
            yield False
            return
        try:
            if self.engine.dialect.name != "postgresql":
                yield True
                return
            with self._advisory(connector) as taken:
                yield taken
        finally:
            local.release()

    @contextmanager
    def _advisory(self, connector: str) -> Iterator[bool]:
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        key = {"ns": LOCK_NAMESPACE, "name": connector}
        try:
            taken = bool(
                conn.execute(
                    sa.text("SELECT pg_try_advisory_lock(:ns, hashtext(:name))"), key
                ).scalar_one()
            )
            try:
                yield taken
            finally:
                if taken:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:ns, hashtext(:name))"), key)
        finally:
            conn.close()

    def held_elsewhere(self, connector: str) -> bool:
        """Whether a run of the connector holds the lock now (here or in another instance)."""
        with self.hold(connector) as taken:
            return not taken
