"""Fixtures shared by source test modules that ask for them.

``no_sleep`` is not autouse here: the modules that want retry waits to return at once say so
with ``pytestmark = pytest.mark.usefixtures("no_sleep")``; the others keep their own clocks.
"""

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from idpsync.app import runner
from idpsync.http import set_testing
from idpsync.sources.google import compose
from idpsync.store import Store, stream
from tests.sources.stream_support import Recorded


@pytest.fixture
def short_trips(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every round trip of a Google read's batches counts as short.

    The scheduler times its round trips on the event loop's clock and, from
    :data:`~idpsync.sources.google.compose.DEFER_TRIP` on, takes the answers that can wait
    after the next main batch left (Google's regime), which changes which batch carries which
    page. In process a trip is a few milliseconds, but over 0.2 s on a loaded machine: a test
    that counts batches pins the short regime here rather than leave it to the load.
    """
    monkeypatch.setattr(compose, "DEFER_TRIP", math.inf)


@pytest.fixture
def no_sleep() -> Iterator[None]:
    """Retry waits of the shared HTTP client return at once."""
    set_testing(True)
    yield
    set_testing(False)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Store]:
    """An empty SQLite directory store in the test's temporary folder."""
    st = Store.open(f"sqlite:///{tmp_path / 'directory.db'}")
    yield st
    st.close()


@pytest.fixture
def streams(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Recorded]]:
    """The runs' edge streams, written every 5 edges (several short transactions a read)."""
    Recorded.made.clear()
    monkeypatch.setattr(runner, "EdgeStream", Recorded)
    monkeypatch.setattr(stream, "BATCH", 5)
    yield Recorded.made


@pytest.fixture
def twin(store: Store, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    """A second empty store of the same kind as ``store``."""
    sqlite = store.dialect == "sqlite"
    url = f"sqlite:///{tmp_path / 'twin.db'}" if sqlite else request.getfixturevalue("fresh_pg_url")
    other = Store.open(url)
    yield other
    other.close()
