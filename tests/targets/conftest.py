"""Fixtures of the target tests (helpers live in ``scim_support``)."""

from tests.targets.scim_support import directory, scim_server, sqlite_store, store

__all__ = ["directory", "scim_server", "sqlite_store", "store"]
