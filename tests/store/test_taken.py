"""``taken_names``: the same answer whether it reads all foreign rows or looks names up."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from idpsync.engine.collisions import Taken
from idpsync.engine.skeleton import collision_key
from idpsync.store import Store, marks
from idpsync.store import schema as t
from idpsync.store.marks import taken_names
from idpsync.store.store import fold, now


def _users(store: Store, owner: str | None, logins: list[str]) -> None:
    stamp = now()
    with store.transaction() as conn:
        if owner:
            store.ensure_connector(conn, owner, "file")
        conn.execute(
            t.users.insert(),
            [
                {
                    "connector": owner,
                    "source_id": f"{owner}-{login}",
                    "login": login,
                    "login_key": fold(login),
                    "email": f"{login}@example.org",
                    "email_key": fold(f"{login}@example.org"),
                    "active": True,
                    "attributes": {},
                    "created_at": stamp,
                    "updated_at": stamp,
                }
                for login in logins
            ],
        )


# Three foreign rows: two names are looked up, more than three read all foreign rows.
@pytest.mark.parametrize("extra", [-2, 0, 10])
def test_taken_names_finds_local_and_foreign_names(store: Store, extra: int) -> None:
    _users(store, "mine", ["Ada", "Bob"])
    _users(store, None, ["Root"])
    _users(store, "other", ["Eve", "Mallory"])
    wanted = ["ROOT", "eve", "ada", "nobody", *(f"x{i}" for i in range(extra))][: 4 + extra]
    with store.transaction() as conn:
        taken = taken_names(conn, "mine", wanted, ["eve@example.org"], [])
    # keyed by the collision key (the confusables skeleton: "m" looks like "rn")
    assert taken.logins == {"root": "a local user", "eve": "a user of connector other"}
    assert taken.emails == {collision_key("eve@example.org"): "a user of connector other"}
    assert taken.group_names == {}


def test_taken_names_counts_the_foreign_users_once_and_reads_none_when_there_are_none(
    store: Store,
) -> None:
    _users(store, "mine", ["Ada", "Bob"])
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split()))

    with store.transaction() as conn:
        sa.event.listen(conn, "before_cursor_execute", seen)
        taken = taken_names(conn, "mine", ["ada", "eve"], ["eve@example.org"], ["Staff"])
        sa.event.remove(conn, "before_cursor_execute", seen)
    assert taken == Taken({}, {}, {})
    # one count per table (the logins and e-mails share the users'), and no row read after it
    assert [s.split(" WHERE")[0] for s in statements] == [
        "SELECT count(*) AS count_1 FROM users",
        "SELECT count(*) AS count_1 FROM groups",
    ]


def test_taken_names_makes_no_collision_keys_when_nothing_is_foreign(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first load's 100k logins and e-mails are not keyed only to find nobody else's."""
    _users(store, "mine", ["Ada"])

    def refuse(name: str) -> str:
        raise AssertionError(f"collision key of {name!r} made")

    monkeypatch.setattr(marks, "collision_key", refuse)
    with store.transaction() as conn:
        taken = taken_names(conn, "mine", ["ada", "eve"], ["ada@example.org"], ["Staff"])
    assert taken == Taken({}, {}, {})
    monkeypatch.setattr(marks, "collision_key", collision_key)
    with store.transaction() as conn:  # another connector's view: Ada's names are taken
        taken = taken_names(conn, "other", ["ADA", "eve"], ["ada@example.org"], [])
    assert taken.logins == {"ada": "a user of connector mine"}
    assert taken.emails == {collision_key("ada@example.org"): "a user of connector mine"}
