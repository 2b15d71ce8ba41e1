"""Shared fixtures: a fresh store on SQLite and on the real PostgreSQL server; garbage collected
at every test's teardown, so that a leak is reported on the test that leaked it."""

from __future__ import annotations

import gc
import os
import threading
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings

from idpsync.store import Store
from idpsync.store import schema as t

# pytest-xdist's workers start with COLUMNS=80, which the CLI's consoles (created at import)
# would keep for good; a CLI test sets the width it needs for each command (``env=``).
os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)

# Timing checks fail on a loaded machine (CI shares two cores); the properties are what is tested.
settings.register_profile("idpsync", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("idpsync")


def pytest_collection_finish(session: pytest.Session) -> None:
    """Move what imports and collection built out of the collector's way (``gc.freeze``): the
    collection at each teardown then scans only what the tests made (≈0.02 s, not ≈0.3 s)."""
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def collect_garbage_after_test() -> Iterator[None]:
    """Collect garbage at each test's teardown.

    An object a test dropped without closing (a psycopg connection, an aiohttp session, an
    asyncio transport) warns from its finaliser; collected here, the warning (an error: warnings
    are errors) is reported on that test by pytest's unraisable-exception check. Left to the
    collector's own timing it fails whichever later test happens to be running when a
    collection starts. Autouse fixtures are torn down after the others of their scope, so what
    those fixtures close or drop is collected too.
    """
    yield
    gc.collect()


@pytest.fixture(autouse=True, scope="module")
def collect_garbage_after_module() -> Iterator[None]:
    """The same for a module's fixtures (an emulator, a server), at its last test's teardown.

    What is still alive then (session fixtures, caches) lives on into the next modules: it is
    frozen too, so that each test's collection scans only what its own module made (the
    collections otherwise grow slower as the suite goes on: seconds a test near its end).
    """
    yield
    gc.collect()
    gc.freeze()


def _join_audit_writers() -> None:
    """Wait for the service's token-use writers (``idpsync.web.audit``) before the store closes:
    one outliving its test would check a connection out of the closed store's new pool, and
    that connection would warn from its finaliser in whichever later test the thread ends in.
    (Kept here, not imported: the leak guard's test runs this file alone.)"""
    for thread in threading.enumerate():
        if thread.name == "audit-writer":
            thread.join(30)


PG_ADMIN_URL = os.environ.get(
    "IDPSYNC_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A throwaway PostgreSQL database for this test session (fails if the server is down)."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"idpsync_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:  # pragma: no cover - environment problem
        pytest.fail(f"PostgreSQL is required at {PG_ADMIN_URL} (run scripts/services.sh): {exc}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """A PostgreSQL database of this test's own (for a test that must start from nothing, such
    as one that runs the service against a config: the session database holds other tests'
    rows until their next truncation)."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"idpsync_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate(store: Store) -> None:
    with store.engine.begin() as conn:
        names = ", ".join(f'"{table.name}"' for table in reversed(t.metadata.sorted_tables))
        conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """An empty, migrated store: once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("store") / "directory.db"
        st = Store.open(f"sqlite:///{path}")
    else:
        st = Store.open(request.getfixturevalue("pg_url"))
        _truncate(st)
    yield st
    _join_audit_writers()
    st.close()


@pytest.fixture
def store_url(request: pytest.FixtureRequest, store: Store) -> str:
    """The URL of the ``store`` fixture's database (for CLI runs)."""
    return store.engine.url.render_as_string(hide_password=False)
