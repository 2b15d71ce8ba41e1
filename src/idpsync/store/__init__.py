"""The directory store (SQLAlchemy Core; SQLite by default, PostgreSQL by URL)."""

from idpsync.store.store import Store, fold

__all__ = ["Store", "fold"]
