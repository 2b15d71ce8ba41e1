"""Fixtures shared by source test modules that ask for them.

``no_sleep`` is not autouse here: the modules that want retry waits to return at once say so
with ``pytestmark = pytest.mark.usefixtures("no_sleep")``; the others keep their own clocks.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from idpsync.http import set_testing
from idpsync.store import Store


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
