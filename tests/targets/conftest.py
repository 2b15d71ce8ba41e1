"""Fixtures of the target tests (helpers live in ``scim_support``)."""

from scim_support import directory, scim_server, sqlite_store, store

__all__ = ["directory", "scim_server", "sqlite_store", "store"]
