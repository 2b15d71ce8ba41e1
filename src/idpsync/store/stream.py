"""A full read's edges streamed into a temporary table of the run's own connection.

:class:`EdgeStream` holds one connection of the store from before the read until the run
ends. While the source reads, each batch of edges it hands over is written into a temporary
table of that connection (:data:`STREAM_SQLITE`, :data:`STREAM_POSTGRESQL`) in a short
transaction of its own that touches nothing else; the run's one transaction
(:meth:`EdgeStream.transaction`) then starts on the same connection when the read ends and
stages from the filled table (:func:`idpsync.store.stage.write_stage` with ``streamed``).

- SQLite: the ``temp`` schema is a database of its own; a deferred ``BEGIN`` that writes only
  there takes no lock on the directory's file, so another run (or any writer) may write the
  directory while a read streams, and a run holding the write lock does not hold up the read.
  The table is keyed by edge (``WITHOUT ROWID``, each edge once with the position it first
  came at), as :data:`~idpsync.store.stage_sql.edges_keyed` of an in-memory read.
- PostgreSQL: a ``TEMP`` table without ``ON COMMIT DROP`` (it must outlive each batch's
  transaction), filled by ``COPY``; the run's transaction takes the advisory lock as before.

The held connection's ``temp`` page cache is larger from the start to the end
(:func:`~idpsync.store.opening.run_cache`, SQLite), so the table stays in memory up to it.

Nothing of the directory, the stage or the runs is written before the run's transaction. A
read that fails or is cancelled ends in :meth:`EdgeStream.close`: the table is dropped and the
connection given back (or, should that fail, thrown away, which drops it too).

The batches are written by one writer thread (:data:`WRITER`), in the order handed over, so
that a read whose event loop is busy (parsing its pages) goes on while the database inserts
(the drivers release the GIL while they wait on SQLite or the server). The connection is used
by one thread at a time: every other use of it (:meth:`EdgeStream.flush`, ``withdraw``,
``discard``, the run's transaction, ``close``) first waits for the batches in flight, and a
write that failed raises there. At most :data:`IN_FLIGHT` batches wait for the writer.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from idpsync.model import Membership
from idpsync.store.errors import translated
from idpsync.store.opening import WRITE, run_cache
from idpsync.store.stage_sql import EDGE_COLUMNS, edge_rows, edge_table, keyed_edge_table
from idpsync.store.store import BATCH, bulk_insert
from idpsync.store.stream_digests import StreamSums

IN_FLIGHT = 2
"""Batches handed to the writer thread and not written yet, at most (then the reader waits)."""
WRITER = "idpsync-edge-stream"
"""The name of the writer thread of a stream."""

STREAM_SQLITE = keyed_edge_table("idpsync_stream_edges")
"""SQLite: the streamed edges, each once, ``pos`` where it first came."""
STREAM_POSTGRESQL = edge_table("idpsync_stream_edges")
"""PostgreSQL: the streamed edges in the order they came (repeats allowed), kept past commit."""


@dataclass(frozen=True, slots=True)
class Streamed:
    """A filled stream table, as :func:`~idpsync.store.stage.write_stage` stages it."""

    table: sa.Table
    """The temporary table (on the staging transaction's connection)."""
    count: int
    """How many edges were handed over (repeats counted, as ``len(snap.memberships)``)."""
    sums: StreamSums | None = None
    """Each member's digest of the edges handed over (:mod:`idpsync.store.stream_digests`)."""


def streamable(engine: Engine) -> bool:
    """Whether runs on ``engine`` may stream: not an in-memory SQLite database.

    An in-memory database has one connection for everything: holding it across the read
    would mix the stream's transactions with the read's own (a delta's staged mirror).
    """
    url = engine.url
    return url.get_backend_name() != "sqlite" or url.database not in (None, "", ":memory:")


class EdgeStream:
    """A run's connection held from the read to the run's end, with a table of streamed edges.

    An :class:`~idpsync.sources.base.EdgeSink`: :meth:`edges` writes every :data:`BATCH`
    edges; :meth:`withdraw` and :meth:`discard` take edges handed over back.
    The first edges handed over (or :meth:`start`) create the table; :meth:`close` ends it all
    (call it in a ``finally``).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.conn: Connection | None = None
        self.table = STREAM_SQLITE if engine.dialect.name == "sqlite" else STREAM_POSTGRESQL
        self.count = 0
        """Edges written so far (less those withdrawn)."""
        self._next = 0
        """The position the next edge written takes (SQLite's ``pos``; never reused)."""
        self._pending: list[tuple[str, str, str]] = []
        """Edges handed over, not given to the writer yet (up to :data:`BATCH`)."""
        self._writer: ThreadPoolExecutor | None = None
        self._in_flight: list[Future[None]] = []
        """Batches given to the writer, oldest first."""
        self.sums = StreamSums()
        """Each member's digest of the edges written (less those taken back)."""
        self._cache = ExitStack()
        """The held connection's run cache (:func:`~idpsync.store.opening.run_cache`)."""

    @property
    def started(self) -> bool:
        """Whether edges were handed over (the table exists on the held connection)."""
        return self.conn is not None

    def start(self) -> None:
        """Take a connection and create the (empty) table in a short transaction."""
        with translated(self.engine.url):
            self.conn = self.engine.connect()
            self._cache.enter_context(run_cache(self.conn))
            with self.conn.begin():
                self.conn.exec_driver_sql(f"DROP TABLE IF EXISTS {self.table.name}")
                self.table.create(self.conn)

    def edges(self, batch: Iterable[Membership]) -> None:
        """Take ``batch``; every :data:`BATCH` edges are written in a transaction of their own.

        The first batch starts the stream (:meth:`start`).
        """
        if self.conn is None:
            self.start()
        self._pending += edge_rows(batch)
        if len(self._pending) >= BATCH:
            rows, self._pending = self._pending, []
            while len(self._in_flight) >= IN_FLIGHT:
                self._in_flight.pop(0).result()
            if self._writer is None:
                self._writer = ThreadPoolExecutor(1, thread_name_prefix=WRITER)
            self._in_flight.append(self._writer.submit(self._write, rows))

    def flush(self) -> None:
        """Write every edge handed over (waiting for the writer), in transactions of their own."""
        self._drain()
        rows, self._pending = self._pending, []
        self._write(rows)

    def _drain(self) -> None:
        """Wait for the batches in flight; the first that failed raises (the others waited)."""
        futures, self._in_flight = self._in_flight, []
        for future in futures:
            future.exception()  # waits
        for future in futures:
            future.result()

    def _write(self, rows: list[tuple[str, str, str]]) -> None:
        """Write ``rows`` in a transaction of their own (in the writer thread or the caller's)."""
        conn = self._held()
        if not rows:
            return
        with translated(self.engine.url), conn.begin():
            if self.table is STREAM_SQLITE:
                written = _insert_keyed(conn, self.table.name, rows, self._next)
            else:
                written = bulk_insert(conn, self.table, EDGE_COLUMNS, rows)
            self.count += written
            self._next += written
        self.sums.add(rows)

    def withdraw(self, batch: Iterable[Membership]) -> None:
        """Take back every copy of the edges of ``batch`` handed over so far.

        ``batch`` must list each copy handed over of the edges it names (its length is taken
        off :attr:`count`, as leaving them out of an in-memory read takes them off its length).
        """
        rows = list(edge_rows(batch))
        if not rows:
            return
        self.flush()
        c = self.table.c
        statement = self.table.delete().where(
            *(c[name] == sa.bindparam(f"k_{name}") for name in EDGE_COLUMNS)
        )
        names = [f"k_{name}" for name in EDGE_COLUMNS]
        keys = [dict(zip(names, row, strict=True)) for row in sorted(set(rows))]
        with translated(self.engine.url), self._held().begin():
            self._held().execute(statement, keys)
        self.count -= len(rows)
        self.sums.add(rows, -1)

    def discard(self) -> None:
        """Take back every edge handed over so far (the table is emptied, kept)."""
        self._drain()
        self._pending = []
        if self.conn is None:
            return
        with translated(self.engine.url), self.conn.begin():
            self.conn.exec_driver_sql(f"DELETE FROM {self.table.name}")
        self.count = 0
        self.sums.clear()

    def streamed(self) -> Streamed | None:
        """What to stage from, every edge written (``None``: nothing was streamed)."""
        if not self.started:
            return None
        self.flush()
        return Streamed(self.table, self.count, self.sums)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """The run's one write transaction, on the held connection (SQLite: ``BEGIN IMMEDIATE``).

        Committed on success, rolled back on any exception, like
        :meth:`~idpsync.store.store.Store.transaction`.
        """
        self._drain()
        conn = self._held()
        conn.execution_options(**{WRITE: True})
        with translated(self.engine.url), conn.begin():
            yield conn

    def close(self) -> None:
        """Drop the table and give the connection back (thrown away if that fails)."""
        futures, self._in_flight, self._pending = self._in_flight, [], []
        for future in futures:  # the writer is done with the connection (its errors are moot)
            future.exception()
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None
        conn, self.conn = self.conn, None
        if conn is None:
            return
        try:
            if conn.in_transaction():
                conn.rollback()
            conn.execution_options(**{WRITE: False})  # a temporary table: no lock to wait for
            with conn.begin():
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {self.table.name}")
            self._cache.close()
            conn.close()
        except BaseException:
            conn.invalidate()
            self._cache.close()  # sets nothing back on a connection thrown away
            conn.close()
            raise

    def _held(self) -> Connection:
        if self.conn is None:
            raise RuntimeError("the edge stream is not started")
        return self.conn


def _insert_keyed(
    conn: Connection, name: str, rows: Iterable[tuple[str, str, str]], first: int
) -> int:
    """``INSERT OR IGNORE`` the rows with positions from ``first``; how many were given."""
    names = ", ".join((*EDGE_COLUMNS, "pos"))
    statement = f"INSERT OR IGNORE INTO {name} ({names}) VALUES (?, ?, ?, ?)"
    numbered = [(*row, pos) for row, pos in zip(rows, itertools.count(first))]
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(statement, numbered)
    finally:
        cursor.close()
    return len(numbered)
