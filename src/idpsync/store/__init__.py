"""The directory store (SQLAlchemy Core; SQLite by default, PostgreSQL by URL)."""

from idpsync.store import edge_digests, photo_tables  # noqa: F401 - declare their tables
from idpsync.store.store import Store, fold

__all__ = ["Store", "fold"]
