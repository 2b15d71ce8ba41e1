"""The directory store (SQLAlchemy Core; SQLite by default, PostgreSQL by URL)."""

from idpsync.store import photo_tables  # noqa: F401 - declares its tables on the metadata
from idpsync.store.store import Store, fold

__all__ = ["Store", "fold"]
