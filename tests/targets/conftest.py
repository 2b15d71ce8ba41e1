"""Fixtures of the target tests (helpers: scim_support, crowd_support, slapd_support)."""

from collections.abc import Iterator

import pytest

from idpsync.http import set_testing
from tests.targets.crowd_support import crowd, running_crowd
from tests.targets.scim_support import directory, scim_server, sqlite_store, store
from tests.targets.slapd_support import slapd


@pytest.fixture(autouse=True)
def no_sleep() -> Iterator[None]:
    """Retry waits of the shared HTTP client return at once."""
    set_testing(True)
    yield
    set_testing(False)


__all__ = ["crowd", "directory", "running_crowd", "scim_server", "slapd", "sqlite_store", "store"]
