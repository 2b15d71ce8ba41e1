"""Opening a store: the engine's connection settings, read and write transactions, the schema.

SQLite runs in WAL mode, where readers never wait for a writer. A write transaction
(:func:`writing`) starts with ``BEGIN IMMEDIATE``, so two writers queue up at once rather than
fail half-way; every other transaction (``engine.connect()``, :meth:`Store.read`) starts with a
plain, deferred ``BEGIN`` and reads a consistent snapshot while a sync writes.

The schema is checked cheaply on every open (:func:`ensure_schema`): the store's
``alembic_version`` is compared with the migration scripts' head, and Alembic only runs when
the store is behind. A store upgraded by a newer idpsync is refused with a clear error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, Connection, Engine

from idpsync.store.errors import StoreUnusable, where

MIGRATIONS = Path(__file__).parent / "migrations"

WRITE = "idpsync_write"
"""Execution option of a connection whose transactions write (SQLite: ``BEGIN IMMEDIATE``)."""

BUSY_TIMEOUT_MS = 30_000
"""How long a writer waits for another writer's lock before it gives up (SQLite)."""

PG_CONNECT_TIMEOUT = 10
"""Seconds to wait for a PostgreSQL server to answer a new connection."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let the driver not open transactions by itself; BEGIN is issued explicitly below.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    # WAL is a property of the file: switch once, not on every connection.
    if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    if conn.get_execution_options().get(WRITE):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def create_engine(url: str | URL) -> Engine:
    """An engine for ``url`` with idpsync's connection settings."""
    url = sa.make_url(url)
    if url.get_backend_name() == "sqlite":
        engine = sa.create_engine(url)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return sa.create_engine(
        url, pool_pre_ping=True, connect_args={"connect_timeout": PG_CONNECT_TIMEOUT}
    )


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A write transaction: committed on success, rolled back on any exception."""
    with engine.connect() as conn:
        conn.execution_options(**{WRITE: True})
        with conn.begin():
            yield conn


def _alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent), in one write transaction."""
    cfg = _alembic_config()
    with writing(engine) as conn:
        if conn.dialect.name == "postgresql":  # two processes opening a new store at once
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('idpsync:migrate'))"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


@cache
def _scripts() -> tuple[frozenset[str], frozenset[str]]:
    """The migration scripts' heads and every revision they know."""
    script = ScriptDirectory.from_config(_alembic_config())
    known = frozenset(rev.revision for rev in script.walk_revisions())
    return frozenset(script.get_heads()), known


def stored_revisions(conn: Connection) -> frozenset[str]:
    """The store's Alembic revisions (empty for a new store)."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return frozenset()
    return frozenset(str(row[0]) for row in conn.exec_driver_sql(_VERSIONS))


_VERSIONS = "SELECT version_num FROM alembic_version"


def _ours(names: list[str]) -> set[str]:
    """Which of ``names`` are idpsync's table names."""
    from idpsync.store.schema import metadata

    return set(names) & set(metadata.tables)


def ensure_schema(engine: Engine) -> bool:
    """Upgrade the schema when it is behind; whether an upgrade ran.

    Raises :class:`StoreUnusable` for a store upgraded by a newer idpsync, or for a new one
    whose database already holds tables of idpsync's names (another program's).
    """
    with engine.connect() as conn:
        stored = stored_revisions(conn)
        foreign = set() if stored else _ours(sa.inspect(conn).get_table_names())
    heads, known = _scripts()
    if stored == heads:
        return False
    if foreign:
        raise StoreUnusable(
            f"{where(engine.url)} holds tables of another program ({', '.join(sorted(foreign))})"
            "; give idpsync a database of its own"
        )
    newer = stored - known
    if newer:
        raise StoreUnusable(
            f"the store was upgraded by a newer idpsync (schema {', '.join(sorted(newer))}; "
            f"this one knows up to {', '.join(sorted(heads))}): run that newer idpsync here"
        )
    migrate(engine)
    return True
