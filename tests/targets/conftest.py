"""Fixtures of the target tests (helpers live in ``scim_support`` and ``crowd_support``)."""

from tests.targets.crowd_support import crowd, running_crowd
from tests.targets.scim_support import directory, scim_server, sqlite_store, store

__all__ = ["crowd", "directory", "running_crowd", "scim_server", "sqlite_store", "store"]
