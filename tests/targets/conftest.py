"""Fixtures of the target tests (helpers: scim_support, crowd_support, slapd_support)."""

from tests.targets.crowd_support import crowd, running_crowd
from tests.targets.scim_support import directory, scim_server, sqlite_store, store
from tests.targets.slapd_support import slapd

__all__ = ["crowd", "directory", "running_crowd", "scim_server", "slapd", "sqlite_store", "store"]
