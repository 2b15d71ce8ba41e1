"""The Alembic migrations produce exactly ``schema.py`` (SQLite and PostgreSQL)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from idpsync.store import Store
from idpsync.store.schema import metadata


def test_migrations_match_schema(store: Store) -> None:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_server_default": False})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_policy_columns_exist(store: Store) -> None:
    columns = {c.name for c in metadata.tables["users"].c}
    assert {"email_key", "missing_runs", "locally_disabled", "missing_since"} <= columns
    assert "report" in metadata.tables["runs"].c and "reason" in metadata.tables["changes"].c
    with store.engine.connect() as conn:
        version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
    # The newest migration (the head moves as later revisions are chained after 0003_policy).
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from idpsync.store.store import MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    scripts = ScriptDirectory.from_config(cfg)
    assert version == scripts.get_current_head()
    assert "0003_policy" in {r.revision for r in scripts.walk_revisions()}


def test_upgrade_from_0001_backfills_email_keys(tmp_path: object) -> None:
    from pathlib import Path

    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    from idpsync.store.store import MIGRATIONS, create_engine, migrate

    engine = create_engine(f"sqlite:///{Path(str(tmp_path)) / 'old.db'}")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO users (connector, source_id, login, login_key, email, active,"
            " attributes, created_at, updated_at) VALUES (NULL, 'x', 'Ada', 'ada',"
            " 'Ada@Example.ORG', 1, '{}', '2026-01-01', '2026-01-01')"
        )
    migrate(engine)
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT email_key, missing_runs, locally_disabled FROM users"))
        assert tuple(row.one()) == ("ada@example.org", 0, 0)
    engine.dispose()
