from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from idpsync.store import Store
from idpsync.store.schema import metadata


def test_migrations_create_exactly_the_declared_schema(store: Store) -> None:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn)
        assert compare_metadata(context, metadata) == []


def test_opening_twice_is_idempotent(store: Store) -> None:
    again = Store.open(store.engine.url.render_as_string(hide_password=False))
    again.close()
