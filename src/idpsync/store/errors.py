"""What can go wrong with the database under idpsync, in words an administrator can act on.

::

    StoreError            the root; its message is one line, without the URL's password
    ├── StoreUnusable     the configured store cannot be used as it is (a configuration problem:
    │                     a missing folder, a folder given as the file, not an SQLite file,
    │                     PostgreSQL unreachable, its database missing, the login refused, a
    │                     store upgraded by a newer idpsync)
    ├── StoreFull         the store's disk is full; the transaction was rolled back
    └── StoreBusy         another process held the SQLite write lock for longer than the wait

Foreign exceptions (a ``sqlite3`` or ``psycopg`` error, or SQLAlchemy's ``DBAPIError`` around
one) are translated once, at the store's boundary (opening, :meth:`Store.read`,
:meth:`Store.transaction`), by :func:`translate`; anything it does not know passes unchanged.
"""

from __future__ import annotations

import re
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL


class StoreError(Exception):
    """A problem with the store, told in one line."""


class StoreUnusable(StoreError):
    """The configured store cannot be used: fix the configuration (or the server) first."""


class StoreFull(StoreError):
    """The store's disk is full; the transaction that hit it was rolled back."""


class StoreBusy(StoreError):
    """Another process kept the store's write lock for longer than idpsync waits."""


def where(url: URL) -> str:
    """The store's place for a message: the SQLite file, or PostgreSQL's ``host:port``."""
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    return f"{url.host or 'localhost'}:{url.port or 5432}"


def check_sqlite_path(url: URL) -> None:
    """Refuse, before SQLite gives a bare "unable to open", a file path that cannot work."""
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return
    if database.startswith("file:"):  # a URI filename: SQLite parses it
        return
    path = Path(database)
    if path.is_dir():
        raise StoreUnusable(
            f"{path} is a folder; give the path of a database file, e.g. {path / 'idpsync.db'}"
        )
    folder = path.parent
    if not folder.exists():
        raise StoreUnusable(f"the folder {folder} does not exist; create it or correct the path")
    if not folder.is_dir():
        raise StoreUnusable(f"{folder} is not a folder; correct the path")


# SQLite primary result codes (https://sqlite.org/rescode.html) -> the error to raise.
_SQLITE: dict[int, Callable[[str], StoreError]] = {
    5: lambda at: StoreBusy(
        f"the store {at} is busy: another process has been writing to it for longer than "
        "idpsync waits; run again when it has finished"
    ),
    6: lambda at: StoreBusy(f"the store {at} is locked by another connection; run again"),
    8: lambda at: StoreUnusable(f"{at} is read-only for this user; idpsync needs to write it"),
    13: lambda at: StoreFull(f"the store's disk is full ({at}): {_FULL_HINT}"),
    14: lambda at: StoreUnusable(f"cannot open {at}: check the path and its permissions"),
    26: lambda at: StoreUnusable(f"{at} is not an SQLite database; give another file name"),
}

_FULL_HINT = "free space and run again; nothing was changed"

# PostgreSQL SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html).
_POSTGRES: dict[str, Callable[[str], StoreError]] = {
    "53100": lambda at: StoreFull(f"the store's disk is full (PostgreSQL at {at}): {_FULL_HINT}"),
}


class _NeverRaised(Exception):
    """Stands for psycopg's exceptions while psycopg is not imported: none can exist then."""


def _psycopg_errors() -> tuple[type[BaseException], type[BaseException]]:
    """The driver's ``Error`` and ``OperationalError``, without importing psycopg.

    Only a PostgreSQL store imports the driver (its engine's first connection does); until then
    no psycopg exception can have been raised, so a class nothing raises stands in for both, and
    a SQLite run never pays for importing psycopg.
    """
    driver = sys.modules.get("psycopg")
    if driver is None:
        return _NeverRaised, _NeverRaised
    return driver.Error, driver.OperationalError


_MISSING_DB = re.compile(r'database "(?P<name>[^"]*)" does not exist')


def translate(exc: BaseException, url: URL) -> StoreError | None:
    """The :class:`StoreError` for a driver error, or ``None`` when it is not one we know.

    ``exc`` is SQLAlchemy's wrapper or the driver's own exception (bulk writes use the
    driver's cursor directly).
    """
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    at = where(url)
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        known = _SQLITE.get(code & 0xFF)
        return known(at) if known else None
    state = getattr(orig, "sqlstate", None)
    if isinstance(state, str) and state in _POSTGRES:
        return _POSTGRES[state](at)
    if state is None and isinstance(orig, _psycopg_errors()[1]):
        return _connection_failed(str(orig), url)  # libpq gives no SQLSTATE for these
    return None


def _connection_failed(text: str, url: URL) -> StoreUnusable:
    """A refused, failed or lost PostgreSQL connection, with libpq's reason."""
    at = where(url)
    missing = _MISSING_DB.search(text)
    if missing:
        name = missing.group("name")
        return StoreUnusable(f'database "{name}" does not exist on {at}; create it first')
    # libpq: 'connection failed: connection to server at "h", port 5 failed: FATAL:  reason\n\thint'
    reason = text.splitlines()[0] if text else "unknown error"
    reason = reason.rsplit(" failed: ", 1)[-1].removeprefix("FATAL:").strip()
    reason = reason[:1].lower() + reason[1:]
    return StoreUnusable(f"cannot connect to PostgreSQL at {at}: {reason}")


@contextmanager
def translated(url: URL) -> Iterator[None]:
    """Re-raise known driver errors inside the block as :class:`StoreError`."""
    try:
        yield
    except (sa.exc.DBAPIError, sqlite3.Error, _psycopg_errors()[0]) as exc:
        error = translate(exc, url)
        if error is None:
            raise
        raise error from exc
