"""``users`` / ``groups`` listings are complete or cut explicitly (issue #17, point 7 c, d)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from benchmarks.listing import seed
from typer.testing import CliRunner

from idpsync.cli import app
from idpsync.store import Store, listing
from idpsync.store import schema as t

USERS, GROUPS = 2500, 12  # more rows and more members of one group than a listing batch
assert USERS > 2 * listing.BATCH

runner = CliRunner()


@pytest.fixture
def seeded(tmp_path: Path, store: Store, store_url: str) -> tuple[Store, str]:
    """A store holding the benchmark directory, and a configuration file pointing at it."""
    seed(store, USERS, GROUPS)
    path = tmp_path / "idpsync.toml"
    path.write_text(f'[store]\nurl = "{store_url}"\n', encoding="utf-8")
    return store, str(path)


def _json(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_users_json_is_every_user_in_login_order(seeded: tuple[Store, str]) -> None:
    _, cfg = seeded
    rows = _json("users", "--json", "-c", cfg)
    assert len(rows) == USERS
    logins = [r["login"] for r in rows]
    assert logins == sorted(logins) and len(set(logins)) == USERS
    assert rows[0]["attributes"] == {"department": "Department 1", "employee_number": "1"}
    assert rows[49]["active"] is False and rows[0]["display_name"] == "User Nümber 1"


def test_groups_json_members_match_the_store(seeded: tuple[Store, str]) -> None:
    store, cfg = seeded
    rows = _json("groups", "--json", "--members", "-c", cfg)
    assert [r["name"] for r in rows] == [f"Group {g:05d}" for g in range(1, GROUPS + 1)]
    expected = store.group_members([r["id"] for r in rows])  # the store's own (unstreamed) read
    assert {r["id"]: r["members"] for r in rows} == expected
    everyone = rows[0]["members"]
    assert len(everyone) == USERS and everyone[0] == {
        "type": "user",
        "login": "user000001",
        "source_id": "id-1",
    }
    assert {"type": "group", "name": "Group 00003", "source_id": "g-3"} in rows[1]["members"]
    assert "members" not in _json("groups", "--json", "-c", cfg)[0]


def test_members_of_a_cut_or_searched_listing(seeded: tuple[Store, str]) -> None:
    store, cfg = seeded
    rows = _json(
        "groups", "group 0000", "--json", "--members", "--limit", "3", "--offset", "2", "-c", cfg
    )
    assert [r["name"] for r in rows] == ["Group 00003", "Group 00004", "Group 00005"]
    assert {r["id"]: r["members"] for r in rows} == store.group_members([r["id"] for r in rows])


def test_json_limit_cuts_and_says_so_on_stderr(seeded: tuple[Store, str]) -> None:
    _, cfg = seeded
    result = runner.invoke(app, ["users", "--json", "--limit", "10", "--offset", "5", "-c", cfg])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [r["login"] for r in rows] == [f"user{i:06d}" for i in range(6, 16)]
    assert "printed 10 of 2,500 from row 6 (--limit)" in result.stderr
    result = runner.invoke(app, ["users", "--json", "--limit", "3000", "-c", cfg])
    assert len(json.loads(result.stdout)) == USERS and not result.stderr


def test_table_says_when_it_is_cut(seeded: tuple[Store, str]) -> None:
    _, cfg = seeded
    result = runner.invoke(app, ["users", "-c", cfg], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "user000100" in result.stdout and "user000101" not in result.stdout
    assert "showing 100 of 2,500; use --all or --limit N" in result.stdout
    result = runner.invoke(app, ["users", "--all", "-c", cfg], env={"COLUMNS": "200"})
    assert "user002500" in result.stdout and "showing" not in result.stdout
    result = runner.invoke(app, ["groups", "--limit", "5", "-c", cfg], env={"COLUMNS": "200"})
    assert "showing 5 of 12; use --all or --limit N" in result.stdout
    result = runner.invoke(app, ["groups", "--members", "-c", cfg], env={"COLUMNS": "200"})
    assert "Group 00012" in result.stdout and "showing" not in result.stdout
    result = runner.invoke(app, ["users", "--all", "--limit", "3", "-c", cfg])
    assert result.exit_code == 2 and "--all and --limit exclude each other" in result.output


def test_empty_directory_is_an_empty_array(tmp_path: Path) -> None:
    path = tmp_path / "idpsync.toml"
    path.write_text(f'[store]\nurl = "sqlite:///{tmp_path}/d.db"\n', encoding="utf-8")
    assert _json("users", "--json", "-c", str(path)) == []
    assert _json("groups", "--json", "--members", "-c", str(path)) == []


def test_a_slow_reader_on_sqlite_holds_no_sync_up(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path}/d.db")
    seed(store, USERS, GROUPS)
    try:
        with listing.reading(store) as conn:
            rows = listing.users(conn, None, None)
            first = next(rows)
            with store.transaction() as writer:  # BEGIN IMMEDIATE, as a sync's apply
                writer.execute(sa.delete(t.memberships))
                writer.execute(sa.delete(t.users).where(t.users.c.id > 10))
            rest = list(rows)  # the listing keeps its snapshot
            assert first["login"] == "user000001" and len(rest) == USERS - 1
        with listing.reading(store) as conn:
            assert listing.count_users(conn, None, None) == 10
    finally:
        store.close()
