"""The store: opening, migrating, and the queries the engine and the CLI use.

SQLite (a file; the default) or PostgreSQL (``postgresql+psycopg://…``). The schema is created
and upgraded by Alembic (``migrations/``) when the store is opened and behind the code
(:mod:`~idpsync.store.opening`).

Writes of one run happen in one transaction (:meth:`Store.transaction`): on SQLite it starts
with ``BEGIN IMMEDIATE`` so two runs never interleave; on PostgreSQL the runner takes a
per-connector advisory lock inside it. Reads use :meth:`Store.read`, which never waits for a
writer. Driver errors the administrator can act on (a full disk, a lock held too long) come
out as :class:`~idpsync.store.errors.StoreError`.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import unicodedata
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

from idpsync.model import (
    DirectoryState,
    DirGroup,
    DirUser,
    MemberKind,
    Membership,
    Snapshot,
)
from idpsync.store import schema as t
from idpsync.store.copy_text import text_block
from idpsync.store.errors import check_sqlite_path, translated
from idpsync.store.fk_sets import held_by_value
from idpsync.store.id_lists import ids_in
from idpsync.store.opening import MIGRATIONS, create_engine, ensure_schema, migrate, writing

if TYPE_CHECKING:
    from idpsync.store.stage import DeltaSnapshot, StageChange
    from idpsync.store.stream import Streamed

__all__ = ["MIGRATIONS", "Store", "create_engine", "fold", "migrate", "now"]


def now() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(UTC)


def fold(text: str) -> str:
    """The comparison key of a login, e-mail or group name: NFKC, then case-folded."""
    if text.isascii():  # NFKC leaves ASCII alone, and ASCII case folding is lower()
        return text.lower()
    return unicodedata.normalize("NFKC", text).casefold()


class Store:
    """The directory store of one idpsync installation."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str | URL) -> Store:
        """Open the store at ``url``, creating or upgrading its schema only when needed.

        Raises :class:`~idpsync.store.errors.StoreError` (one line, no password) when the
        store cannot be used.
        """
        url = sa.make_url(url)
        check_sqlite_path(url)
        engine = create_engine(url)
        try:
            with translated(url):
                ensure_schema(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    @contextmanager
    def transaction(self, *, run: bool = False) -> Iterator[Connection]:
        """A write transaction; committed on success, rolled back on any exception.

        On SQLite it starts with ``BEGIN IMMEDIATE``: it waits for (up to 30 s), and then
        excludes, any other writer. A full disk or a lock held too long is raised as a
        :class:`~idpsync.store.errors.StoreError`, after the rollback. ``run``: a sync's
        transaction (:func:`~idpsync.store.opening.run_cache`, given back after it).
        """
        with translated(self.engine.url), writing(self.engine, run=run) as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction that never waits for a writer (it is rolled back at the end).

        On SQLite a deferred ``BEGIN`` in WAL mode: it sees the store as it was before any
        write still in progress. Use it for everything that only reads.
        """
        with translated(self.engine.url), self.engine.connect() as conn:
            yield conn

    # -- connectors and runs -------------------------------------------------------------------

    def ensure_connector(self, conn: Connection, name: str, source_type: str) -> None:
        """Create the connector's row on its first run."""
        exists = conn.execute(
            sa.select(t.connectors.c.name).where(t.connectors.c.name == name)
        ).first()
        if exists is None:
            conn.execute(
                t.connectors.insert().values(
                    name=name,
                    source_type=source_type,
                    state={},
                    created_at=now(),
                    updated_at=now(),
                )
            )

    def connector_state(self, conn: Connection, name: str) -> dict[str, Any]:
        """The connector's saved state (delta links, cursors); empty when none."""
        row = conn.execute(
            sa.select(t.connectors.c.state).where(t.connectors.c.name == name)
        ).first()
        return dict(row.state) if row and row.state else {}

    def set_connector_state(self, conn: Connection, name: str, state: Mapping[str, Any]) -> None:
        """Replace the connector's saved state."""
        conn.execute(
            t.connectors.update()
            .where(t.connectors.c.name == name)
            .values(state=dict(state), updated_at=now())
        )

    def start_run(self, connector: str, mode: str, dry_run: bool, actor: str | None = None) -> int:
        """Record a new run as ``running`` (committed at once) and return its id.

        ``actor`` is who started it (``scheduler``, ``user:NAME``, ``token:NAME``,
        ``cli:USER``); ``None`` when not known.
        """
        with self.transaction() as conn:
            self._close_dead_runs(conn, connector)
            result = conn.execute(
                t.runs.insert().values(
                    connector=connector,
                    mode=mode,
                    dry_run=dry_run,
                    status="running",
                    started_at=now(),
                    summary={},
                    stats={},
                    host=socket.gethostname(),
                    pid=os.getpid(),
                    actor=actor[:320] if actor is not None else None,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def _close_dead_runs(self, conn: Connection, connector: str) -> None:
        """Mark runs left ``running`` by a process that no longer exists as ``interrupted``."""
        rows = conn.execute(
            sa.select(t.runs.c.id, t.runs.c.host, t.runs.c.pid).where(
                t.runs.c.connector == connector, t.runs.c.status == "running"
            )
        ).all()
        host = socket.gethostname()
        for row in rows:
            if row.host == host and not _pid_alive(row.pid):
                conn.execute(
                    t.runs.update()
                    .where(t.runs.c.id == row.id)
                    .values(
                        status="interrupted",
                        finished_at=now(),
                        message="the process running this sync ended before it finished; "
                        "nothing of it was applied",
                    )
                )

    def finish_run(
        self,
        run_id: int,
        status: str,
        *,
        conn: Connection | None = None,
        complete: bool | None = None,
        summary: Mapping[str, Any] | None = None,
        stats: Mapping[str, Any] | None = None,
        message: str | None = None,
        report: Mapping[str, Any] | None = None,
    ) -> None:
        """Record a run's outcome (inside ``conn`` when given, else in its own transaction)."""
        values: dict[str, Any] = {"status": status, "finished_at": now(), "message": message}
        if report is not None:
            values["report"] = json.loads(json.dumps(report, default=str))
        if complete is not None:
            values["complete"] = complete
        if summary is not None:
            values["summary"] = dict(summary)
        if stats is not None:
            values["stats"] = dict(stats)
        statement = t.runs.update().where(t.runs.c.id == run_id).values(**values)
        if conn is not None:
            conn.execute(statement)
        else:
            with self.transaction() as own:
                own.execute(statement)

    def runs(self, connector: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The newest runs first."""
        query = sa.select(t.runs).order_by(t.runs.c.id.desc()).limit(limit)
        if connector:
            query = query.where(t.runs.c.connector == connector)
        with self.read() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def run(self, run_id: int) -> dict[str, Any] | None:
        """One run, or ``None``."""
        with self.read() as conn:
            row = conn.execute(sa.select(t.runs).where(t.runs.c.id == run_id)).first()
            return dict(row._mapping) if row else None

    def changes(self, run_id: int) -> list[dict[str, Any]]:
        """The change log rows of one run, in order."""
        with self.read() as conn:
            rows = conn.execute(
                sa.select(t.changes).where(t.changes.c.run_id == run_id).order_by(t.changes.c.seq)
            )
            return [dict(row._mapping) for row in rows]

    # -- stage: the mirror of the IdP --------------------------------------------------------

    def load_stage(self, conn: Connection, connector: str) -> Snapshot:
        """The connector's staged snapshot (what its IdP last returned), read whole.

        A source's ``delta()`` gets it part by part instead: :mod:`~idpsync.store.staged_mirror`.
        """
        from idpsync.store import stage

        return stage.load_stage(conn, connector)

    def write_stage(
        self,
        conn: Connection,
        connector: str,
        snap: Snapshot,
        run_id: int,
        streamed: Streamed | None = None,
    ) -> StageChange | None:
        """Stage a snapshot: a complete one replaces the mirror, an incomplete one only upserts.

        A complete delta (:class:`~idpsync.store.stage.DeltaSnapshot`) is applied to it. The
        differences are worked out by the database (:mod:`~idpsync.store.stage`): only changed
        records are rewritten, only new edges inserted (with this ``run_id``) and only gone
        ones deleted. On PostgreSQL those of the stage's and the directory's tables whose
        statistics are stale are then analysed (:func:`~idpsync.store.stats.refresh_stale`),
        so the plan's set queries are planned for their size.
        Returns what a complete snapshot (not a delta) changed (:class:`StageChange`).
        ``streamed``: a full read's edges streamed into ``conn`` (:mod:`~idpsync.store.stream`).
        """
        from idpsync.store import stage, stats

        change = stage.write_stage(conn, connector, snap, run_id, streamed)
        stats.refresh_stale(conn)
        return change

    def apply_delta_to_stage(
        self, conn: Connection, connector: str, delta: DeltaSnapshot, run_id: int
    ) -> None:
        """Apply a complete delta to the staged mirror in place (:mod:`~idpsync.store.stage`)."""
        from idpsync.store import stage

        stage.apply_delta(conn, connector, delta, run_id)

    # -- the directory ------------------------------------------------------------------------

    def load_directory(
        self,
        conn: Connection,
        connector: str,
        *,
        memberships: bool = True,
        users: Collection[str] | None = None,
    ) -> DirectoryState:
        """Everything the connector owns, keyed by source id.

        ``memberships=False`` leaves the edges out (a run diffs them in the database,
        :mod:`idpsync.store.edge_diff`). ``users``: only these users (with every group; an
        incremental plan, :mod:`idpsync.app.incremental`; no edges are read then).
        """
        state = DirectoryState()
        user_ids: dict[int, str] = {}
        for row in self._user_rows(conn, connector, users):
            user_ids[row.id] = row.source_id
            state.users[row.source_id] = DirUser(
                source_id=row.source_id,
                login=row.login,
                email=row.email,
                display_name=row.display_name,
                given_name=row.given_name,
                family_name=row.family_name,
                active=row.active,
                manager_id=row.manager_id,
                photo_ref=row.photo_ref,
                attributes=row.attributes or {},
            )
        group_ids: dict[int, str] = {}
        g = t.groups.c
        for row in conn.execute(sa.select(t.groups).where(g.connector == connector)):
            group_ids[row.id] = row.source_id
            state.groups[row.source_id] = DirGroup(
                source_id=row.source_id, name=row.name, description=row.description
            )
        if not memberships or users is not None:
            return state
        m = t.memberships.c
        ids = {MemberKind.USER: user_ids, MemberKind.GROUP: group_ids}
        edges = state.memberships
        for group_id, kind_value, member_id in raw_rows(
            conn, sa.select(m.group_id, m.member_kind, m.member_id).where(m.connector == connector)
        ):
            kind = _KINDS[kind_value]
            member = ids[kind].get(member_id)
            group = group_ids.get(group_id)
            if member is not None and group is not None:
                edges.add(Membership(group, member, kind))
        return state

    @staticmethod
    def _user_rows(conn: Connection, connector: str, only: Collection[str] | None) -> Iterator[Any]:
        """The connector's user rows (``only``: those with these source ids)."""
        u = t.users.c
        if only is None:
            yield from conn.execute(sa.select(t.users).where(u.connector == connector))
            return
        ordered = sorted(only)
        for start in range(0, len(ordered), 500):
            chunk = ordered[start : start + 500]
            query = sa.select(t.users).where(u.connector == connector, u.source_id.in_(chunk))
            yield from conn.execute(query)

    def id_maps(
        self,
        conn: Connection,
        connector: str,
        users: Collection[str] | None = None,
        groups: Collection[str] | None = None,
    ) -> tuple[dict[str, int], dict[str, int]]:
        """Internal ids of the connector's users and groups, by source id.

        ``users`` / ``groups``: only these source ids are asked for (those the directory has
        are in the maps; the others may be left out), so a small plan does not read every id.
        """
        return _ids(conn, t.users, connector, users), _ids(conn, t.groups, connector, groups)

    def counts(self, conn: Connection, connector: str) -> dict[str, int]:
        """How many users (all and active), groups and memberships the connector owns."""

        def scalar(query: Any) -> int:
            return int(conn.execute(query).scalar_one())

        u = t.users.c  # all and active users in one scan
        active = sa.func.count().filter(u.active.is_(True))
        users, active_users = conn.execute(
            sa.select(sa.func.count(), active).where(u.connector == connector)
        ).one()
        return {
            "users": int(users),
            "active_users": int(active_users or 0),
            "groups": scalar(sa.select(sa.func.count()).where(t.groups.c.connector == connector)),
            "memberships": scalar(
                sa.select(sa.func.count()).where(t.memberships.c.connector == connector)
            ),
        }

    # -- reading for the CLI ----------------------------------------------------------------

    def search_users(
        self,
        search: str | None = None,
        connector: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Users whose login, e-mail or name contains ``search`` (case-insensitive)."""
        query = sa.select(t.users).order_by(t.users.c.login_key).limit(limit).offset(offset)
        if connector:
            query = query.where(t.users.c.connector == connector)
        if search:
            pattern = f"%{_escape_like(search.casefold())}%"
            query = query.where(
                sa.or_(
                    t.users.c.login_key.like(pattern, escape="\\"),
                    sa.func.lower(t.users.c.email).like(pattern, escape="\\"),
                    sa.func.lower(t.users.c.display_name).like(pattern, escape="\\"),
                )
            )
        with self.read() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def search_groups(
        self,
        search: str | None = None,
        connector: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Groups whose name contains ``search`` (case-insensitive)."""
        query = sa.select(t.groups).order_by(t.groups.c.name_key).limit(limit).offset(offset)
        if connector:
            query = query.where(t.groups.c.connector == connector)
        if search:
            pattern = f"%{_escape_like(fold(search))}%"
            query = query.where(t.groups.c.name_key.like(pattern, escape="\\"))
        with self.read() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def group_members(self, group_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
        """Direct members of the given groups: ``{group id: [{kind, id, key}]}``."""
        result: dict[int, list[dict[str, Any]]] = {gid: [] for gid in group_ids}
        m = t.memberships.c
        with self.read() as conn:
            for chunk in _chunks(list(group_ids), 500):
                users = conn.execute(
                    sa.select(m.group_id, t.users.c.login, t.users.c.source_id)
                    .join(t.users, sa.and_(m.member_kind == "user", m.member_id == t.users.c.id))
                    .where(m.group_id.in_(chunk))
                    .order_by(t.users.c.login_key)
                )
                for r in users:
                    result[r.group_id].append(
                        {"type": "user", "login": r.login, "source_id": r.source_id}
                    )
                child = t.groups.alias("child")
                nested = conn.execute(
                    sa.select(m.group_id, child.c.name, child.c.source_id)
                    .join(child, sa.and_(m.member_kind == "group", m.member_id == child.c.id))
                    .where(m.group_id.in_(chunk))
                    .order_by(child.c.name_key)
                )
                for r in nested:
                    result[r.group_id].append(
                        {"type": "group", "name": r.name, "source_id": r.source_id}
                    )
        return result


_KINDS = {kind.value: kind for kind in MemberKind}
"""``member_kind`` column values to :class:`MemberKind` (a dict lookup, not an enum call)."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


IDS_READ_WHOLE = 20_000
"""Past this many source ids asked for, :meth:`Store.id_maps` reads all (one scan)."""


def _ids(
    conn: Connection, table: sa.Table, connector: str, only: Collection[str] | None
) -> dict[str, int]:
    """Internal id by source id of ``table``'s rows of ``connector`` (``only``: of those ids)."""
    c = table.c
    query = sa.select(c.source_id, c.id).where(c.connector == connector)
    if only is None or len(only) > IDS_READ_WHOLE:
        return {source_id: id_ for source_id, id_ in conn.execute(query)}
    found: dict[str, int] = {}
    for named in ids_in(conn, c.source_id, sorted(only)):
        rows = conn.execute(query.where(named))
        found.update((source_id, id_) for source_id, id_ in rows)
    return found


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


BATCH = 10_000
"""Rows per driver call of :func:`bulk_insert`."""


def bulk_insert(
    conn: Connection,
    table: sa.Table,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    raw: Collection[str] = (),
    same: Mapping[str, Any] | None = None,
    batch: int = BATCH,
) -> int:
    """Insert ``rows`` (value tuples in the order of ``columns``) in batches; returns the count.

    The values are what SQLAlchemy would be given; each column's bind processing (JSON,
    timestamps, booleans) is the dialect's own, so the stored values are the same as through
    ``conn.execute(table.insert(), ...)``, but without per-row statement handling: SQLite gets
    one ``executemany`` per batch, PostgreSQL a ``COPY``. Runs in ``conn``'s transaction.
    Columns left out take their server default (or NULL); a column with only a Python-side
    default must be given. Values of the ``raw`` columns are passed as they are (e.g. JSON
    columns given as the JSON text the dialect would have made). ``same`` gives columns that
    have one value in every row (a run id, a timestamp): processed once, not part of ``rows``;
    on PostgreSQL, from a full first batch on, foreign keys made of them are locked and checked
    once, not per row (:func:`idpsync.store.fk_sets.held_by_value`).
    """
    dialect = conn.dialect
    tail = tuple(
        value if name in raw else _processor(table.c[name], dialect, value)
        for name, value in (same or {}).items()
    )
    columns = [*columns, *(same or {})]
    cols = [table.c[name] for name in columns]
    for column in table.c:
        if column.name in columns or column.server_default is not None:
            continue
        if column.default is not None:
            raise ValueError(f"bulk_insert into {table.name} needs column {column.name}")
    processors = [
        (i, _same_as_last(proc) if isinstance(c.type, sa.DateTime) else proc)
        for i, (c, proc) in enumerate(
            (c, None if c.name in raw else c.type._cached_bind_processor(dialect)) for c in cols
        )
        if proc is not None and i < len(columns) - len(tail)
    ]
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(c.name) for c in cols)
    driver: Any = conn.connection.driver_connection  # sqlite3 or psycopg, in conn's transaction
    count = 0
    chunk: Sequence[Sequence[Any]]
    held = ExitStack()
    for chunk in _batched(rows, batch):
        if not count and same and len(chunk) == batch and dialect.name == "postgresql":
            held.enter_context(held_by_value(conn, table, same))  # its keys locked once
        if processors:
            chunk = [_processed(row, processors) for row in chunk]
        count += len(chunk)
        if dialect.name == "postgresql":  # plain strings: one text block, not row by row
            block = text_block(chunk, len(columns) - len(tail), tail)
            if block is not None:
                with (
                    driver.cursor() as cursor,
                    cursor.copy(f"COPY {quote(table.name)} ({names}) FROM STDIN") as copy,
                ):
                    copy.write(block)
                continue
        if tail:
            chunk = [(*row, *tail) for row in chunk]
        if dialect.name == "postgresql":
            with (
                driver.cursor() as cursor,
                cursor.copy(f"COPY {quote(table.name)} ({names}) FROM STDIN") as copy,
            ):
                for row in chunk:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(cols))
            cursor = driver.cursor()
            try:
                cursor.executemany(
                    f"INSERT INTO {quote(table.name)} ({names}) VALUES ({marks})", chunk
                )
            finally:
                cursor.close()
    held.close()
    return count


def raw_rows(conn: Connection, statement: sa.Select[Any]) -> Iterator[tuple[Any, ...]]:
    """The rows of ``statement`` as the driver returns them, without SQLAlchemy's row handling.

    For large selects of plain columns (text, integers) whose types need no result processing;
    in ``conn``'s transaction.
    """
    compiled = statement.compile(dialect=conn.dialect)
    params = compiled.params
    args: Any = (
        [params[name] for name in compiled.positiontup or ()] if compiled.positional else params
    )
    driver: Any = conn.connection.driver_connection
    cursor = driver.cursor()
    try:
        cursor.execute(compiled.string, args)
        while rows := cursor.fetchmany(BATCH):
            for row in rows:
                yield tuple(row)
    finally:
        cursor.close()


def _processor(column: sa.Column[Any], dialect: sa.Dialect, value: Any) -> Any:
    proc = column.type._cached_bind_processor(dialect)
    return value if proc is None else proc(value)


def _same_as_last(proc: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``proc`` that reuses its last result for the same (immutable) value, e.g. a run's stamp."""
    last: list[Any] = [object(), None]

    def process(value: Any) -> Any:
        if value is not last[0]:
            last[0], last[1] = value, proc(value)
        return last[1]

    return process


def _processed(
    row: Sequence[Any], processors: Sequence[tuple[int, Callable[[Any], Any]]]
) -> Sequence[Any]:
    values = list(row)
    for i, proc in processors:
        values[i] = proc(values[i])
    return values


def _batched(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _insert(
    conn: Connection,
    table: sa.Table,
    rows: Iterable[dict[str, Any]],
    same: Mapping[str, Any] | None = None,
) -> None:
    """Insert dict rows (all with the same keys) through :func:`bulk_insert`.

    ``rows`` may be a generator: it is consumed a batch at a time, never held whole. ``same``:
    columns with one value in every row, not in ``rows`` (:func:`bulk_insert`).
    """
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return
    columns = list(first)
    values = ([row[c] for c in columns] for row in itertools.chain((first,), rows))
    bulk_insert(conn, table, columns, values, same=same)
