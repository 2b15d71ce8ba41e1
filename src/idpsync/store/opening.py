"""Opening a store: the engine's connection settings, read and write transactions, the schema.

SQLite runs in WAL mode, where readers never wait for a writer. A write transaction
(:func:`writing`) starts with ``BEGIN IMMEDIATE``, so two writers queue up at once rather than
fail half-way; every other transaction (``engine.connect()``, :meth:`Store.read`) starts with a
plain, deferred ``BEGIN`` and reads a consistent snapshot while a sync writes.

The schema is checked cheaply on every open (:func:`ensure_schema`): the store's
``alembic_version`` is compared with the migration scripts' head, and Alembic only runs when
the store is behind. A store upgraded by a newer idpsync is refused with a clear error.

Alembic itself (with Mako, its PostgreSQL support and more: about a tenth of a second of every
command's start-up) is imported only to migrate: the heads are read from the scripts' own
``revision`` / ``down_revision`` lines (:func:`revisions_of`), and only scripts that do not
state them as plain literals make the check ask Alembic.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

from idpsync.store.errors import StoreUnusable, where

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).parent / "migrations"

WRITE = "idpsync_write"
"""Execution option of a connection whose transactions write (SQLite: ``BEGIN IMMEDIATE``)."""

BUSY_TIMEOUT_MS = 30_000
"""How long a writer waits for another writer's lock before it gives up (SQLite)."""

PG_CONNECT_TIMEOUT = 10
"""Seconds to wait for a PostgreSQL server to answer a new connection."""

PAGE_SIZE = 8192
"""Bytes a page of a new SQLite store holds (a store's first write fixes it; SQLite's is 4096).

Set on every connection before anything is written; an existing store keeps its own."""

RUN_TEMP_CACHE_KIB = 131_072
"""The page cache of a run's ``temp`` schema, at most (KiB; SQLite's default is 2,000).

A run's temporary tables (the streamed edges, the stage's keyed edges) then stay in memory up
to it rather than spill into a temporary file; given back when the run ends (:func:`run_cache`).
"""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let the driver not open transactions by itself; BEGIN is issued explicitly below.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    # Before WAL: switching a new (empty) store to WAL writes its header, fixing the page size.
    cursor.execute(f"PRAGMA page_size={PAGE_SIZE}")
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
def writing(engine: Engine, *, run: bool = False) -> Iterator[Connection]:
    """A write transaction: committed on success, rolled back on any exception.

    ``run``: a sync's transaction, with the run's cache (:func:`run_cache`) around it.
    """
    with engine.connect() as conn:
        conn.execution_options(**{WRITE: True})
        with run_cache(conn) if run else nullcontext(), conn.begin():
            yield conn


@contextmanager
def run_cache(conn: Connection) -> Iterator[None]:
    """A run's larger ``temp`` page cache on ``conn`` (SQLite; nothing on PostgreSQL).

    The cache grows to :data:`RUN_TEMP_CACHE_KIB` only as the run's temporary tables fill it;
    at the end the connection's own size is set back and the memory freed
    (``PRAGMA shrink_memory``), so a pooled connection of the service keeps none of it. The
    pragmas go to the driver's connection: they open no transaction (nor end one).
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    driver = conn.connection.driver_connection
    assert driver is not None
    before = int(driver.execute("PRAGMA temp.cache_size").fetchone()[0])
    driver.execute(f"PRAGMA temp.cache_size=-{RUN_TEMP_CACHE_KIB}")
    try:
        yield
    finally:
        if not conn.invalidated:
            driver.execute(f"PRAGMA temp.cache_size={before}")
            driver.execute("PRAGMA shrink_memory")


def _alembic_config() -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent), in one write transaction."""
    from alembic import command

    cfg = _alembic_config()
    with writing(engine) as conn:
        if conn.dialect.name == "postgresql":  # two processes opening a new store at once
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('idpsync:migrate'))"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def _literal(tree: ast.Module, name: str) -> tuple[bool, Any]:
    """Whether the module assigns ``name`` once at its top, to a literal; and the value."""
    found = []
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            found.append(value)
    if len(found) != 1:
        return False, None
    try:
        return True, ast.literal_eval(found[0])
    except ValueError:
        return False, None


def revisions_of(folder: Path) -> dict[str, tuple[str, ...]] | None:
    """Each script's revision and the revisions it follows, read without importing anything.

    The scripts are the ``*.py`` files Alembic loads (not ``__init__.py``, not editor backups
    ``.#…``). ``None`` when a script does not state ``revision`` (a non-empty string) and
    ``down_revision`` (``None``, a string, or a tuple of strings) as plain literals, or two
    scripts state the same revision: then only Alembic can tell.
    """
    graph: dict[str, tuple[str, ...]] = {}
    for path in sorted(folder.glob("*.py")):
        if path.name == "__init__.py" or path.name.startswith(".#"):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, ValueError):
            return None
        has_rev, rev = _literal(tree, "revision")
        has_down, down = _literal(tree, "down_revision")
        if not has_rev or not has_down or not isinstance(rev, str) or not rev or rev in graph:
            return None
        parents = (down,) if isinstance(down, str) else down if down is not None else ()
        if not isinstance(parents, tuple) or not all(isinstance(p, str) for p in parents):
            return None
        graph[rev] = parents
    return graph


def _heads_of(graph: dict[str, tuple[str, ...]]) -> frozenset[str]:
    """The revisions no other revision follows."""
    followed = {parent for parents in graph.values() for parent in parents}
    return frozenset(rev for rev in graph if rev not in followed)


@cache
def _scripts() -> tuple[frozenset[str], frozenset[str]]:
    """The migration scripts' heads and every revision they know."""
    graph = revisions_of(MIGRATIONS / "versions")
    if graph:
        return _heads_of(graph), frozenset(graph)
    from alembic.script import ScriptDirectory

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
