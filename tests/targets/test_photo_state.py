"""The photo bookkeeping of ``target_objects``: the upgrade's backfill, and who keeps a digest."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from idpsync.store import Store
from idpsync.store.store import MIGRATIONS, create_engine, migrate
from idpsync.targets import photo_state
from idpsync.targets.state import TargetState

STAMP = "'2026-01-01'"


def test_the_upgrade_marks_target_users_whose_directory_entry_has_a_photo(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0011_photos")
    with engine.begin() as conn:
        run = conn.exec_driver_sql
        run(f"INSERT INTO connectors VALUES ('hr', 'file', '{{}}', {STAMP}, {STAMP})")
        for sid, photo in (("u1", "'etag-1'"), ("u2", "NULL")):
            run(
                "INSERT INTO users (connector, source_id, login, login_key, active, photo_ref,"
                f" attributes, created_at, updated_at) VALUES ('hr', '{sid}', '{sid}', '{sid}',"
                f" 1, {photo}, '{{}}', {STAMP}, {STAMP})"
            )
        run(
            "INSERT INTO targets (name, cursor, status, updated_at)"
            f" VALUES ('app', 0, 'ok', {STAMP})"
        )
        for kind, sid in (("user", "u1"), ("user", "u2"), ("group", "u1")):
            run(
                "INSERT INTO target_objects (target, object_type, connector, source_id,"
                f" remote_id, adopted, updated_at) VALUES ('app', '{kind}', 'hr', '{sid}',"
                f" 'r-{kind}-{sid}', 0, {STAMP})"
            )
    migrate(engine)
    with engine.connect() as conn:
        marked = conn.execute(
            sa.text(
                "SELECT object_type, source_id, photo_pending, photo_digest FROM target_objects"
            )
        ).all()
    engine.dispose()
    assert sorted(tuple(r) for r in marked) == [
        ("group", "u1", 0, None),
        ("user", "u1", 1, None),
        ("user", "u2", 0, None),
    ]


def test_the_digest_stays_with_the_same_remote_object_only(store: Store) -> None:
    state = TargetState(store, "app")
    state.row()
    state.set_remote_id("user", "hr", "u1", "r1")
    photo_state.settle(state, "hr", "u1", "sha256:aa")
    state.set_remote_id("user", "hr", "u1", "r1", active=True)  # e.g. adopted again
    (row,) = photo_state.rows(state, everyone=True)
    assert (row.remote_id, row.digest, row.pending, row.user) == ("r1", "sha256:aa", False, None)
    photo_state.mark(state, "hr", "u1")
    assert [r.source_id for r in photo_state.rows(state)] == ["u1"]
    state.set_remote_id("user", "hr", "u1", "r2")  # re-created in the target: holds no photo
    (row,) = photo_state.rows(state, everyone=True)
    assert (row.remote_id, row.digest, row.pending) == ("r2", None, False)
