"""Alembic environment: runs on the connection idpsync hands in (see ``store.migrate``)."""

from alembic import context

from idpsync.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
