"""A first load's rows made in Python the quick way are the ones the plain way made.

The created users' rows (:func:`~idpsync.store.apply._insert_users`: value lists, no dict per
row), the change log's JSON (one encoder made once), the user fields as a dict
(:meth:`~idpsync.model.DirUser.fields`) and ``taken_names`` without collision keys when nothing
is foreign: each against what the code before made.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from idpsync.engine.plan import Op, OpKind, Plan
from idpsync.engine.skeleton import collision_key
from idpsync.model import USER_FIELDS, DirUser
from idpsync.store import Store, marks
from idpsync.store import schema as t
from idpsync.store.apply import _json, apply_plan
from idpsync.store.marks import taken_names
from idpsync.store.store import fold

_VALUES: list[Any] = [
    {"login": "ada", "attributes": {"dept": "R&D", "n": [1, 2.5, None, True]}},
    {"login": "zoë", "display_name": "Zoë Ångström \u200b", "e": "\U0001f600 \x00 \u2028"},
    {"when": datetime(2026, 12, 7, 14, 0, tzinfo=UTC), "set": {3}, "bytes": b"x", 1: "key"},
    {"nan": float("nan"), "inf": float("-inf"), "big": 10**30, "nested": {"a": {"b": []}}},
    {},
]


@pytest.mark.parametrize("value", _VALUES)
def test_change_json_is_json_dumps_with_str_for_the_rest(value: dict[str, Any]) -> None:
    assert _json(value) == json.dumps(value, default=str)
    assert _json(None) == "null"


def test_user_fields_are_the_user_fields_by_name_in_order() -> None:
    user = DirUser("s", "ada", "a@x.org", "Ada L.", "Ada", "L", False, "m", "p1", {"dept": "R&D"})
    by_name = {name: getattr(user, name) for name in USER_FIELDS}
    assert list(user.fields().items()) == list(by_name.items())


def _user(sid: str, **after: Any) -> Op:
    return Op(OpKind.CREATE_USER, sid, after=after, reason="new in the IdP", key=sid)


def _expected(sid: str, after: dict[str, Any], stamp: bool) -> dict[str, Any]:
    """The row the plain dict path (``_user_values``) wrote, as read back."""
    row = {"source_id": sid, **after}
    if "login" in after:
        row["login_key"], row["login_skeleton"] = (
            fold(after["login"]),
            collision_key(after["login"]),
        )
    if "email" in after:
        email = after["email"]
        row["email_key"] = fold(email) if email else None
        row["email_skeleton"] = collision_key(email) if email else None
    if "attributes" in after:
        row["attributes"] = dict(after["attributes"] or {})
    row["deactivated_at"] = stamp
    return row


def _apply(store: Store, ops: list[Op]) -> list[dict[str, Any]]:
    run_id = store.start_run("hr", "full", False)
    with store.transaction() as conn:
        store.ensure_connector(conn, "hr", "file")
        apply_plan(store, conn, "hr", run_id, Plan(ops=ops))
    with store.transaction() as conn:
        rows = conn.execute(sa.select(t.users).order_by(t.users.c.id)).mappings().all()
    return [dict(row) for row in rows]


def test_created_users_rows_as_the_dict_path_made_them(store: Store) -> None:
    afters = {
        "a": DirUser("a", "Ada", "Ada@Example.org", attributes={"dept": "R&D"}).fields(),
        "b": DirUser("b", "zoë\u0301", None, "Zoë", active=False).fields(),
        "c": {**DirUser("c", "ΡΟΒ", "").fields(), "attributes": None},
        "d": DirUser("d", "dee", "ⅾee@example.org", manager_id="a", photo_ref="v1").fields(),
    }
    rows = _apply(store, [_user(sid, **after) for sid, after in afters.items()])
    for row, (sid, after) in zip(rows, afters.items(), strict=True):
        got = {k: row[k] for k in _expected(sid, after, False)}
        got["deactivated_at"] = got["deactivated_at"] is not None
        assert got == _expected(sid, after, not after["active"])
        assert row["created_at"] is not None and row["updated_at"] is not None


def test_created_users_with_fewer_fields_name_the_columns_by_the_first(store: Store) -> None:
    """Fields left out of the first user's (here its e-mail) are left out of every row."""
    ops = [
        _user("a", login="Ada", active=True, attributes=None),
        _user("b", login="Bob", active=False, email="x", attributes={"k": 1}),
    ]
    rows = _apply(store, ops)
    assert [(r["login_key"], r["email"], r["email_key"], r["attributes"]) for r in rows] == [
        ("ada", None, None, {}),
        ("bob", None, None, {"k": 1}),
    ]
    assert [r["deactivated_at"] is not None for r in rows] == [False, True]


def test_a_created_user_missing_a_field_of_the_first_fails(store: Store) -> None:
    with pytest.raises(KeyError):
        _apply(store, [_user("a", login="Ada", email="a@x", attributes={}), _user("b", login="B")])


def test_taken_names_makes_no_keys_when_nothing_is_foreign(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _apply(store, [_user("a", **DirUser("a", "ada", "ada@x.org").fields())])

    def refuse(name: str) -> str:
        raise AssertionError(f"collision key of {name!r} made")

    monkeypatch.setattr(marks, "collision_key", refuse)
    with store.transaction() as conn:
        taken = taken_names(conn, "hr", ["ada", "eve"], ["ada@x.org"], ["Group"])
    assert (taken.logins, taken.emails, taken.group_names) == ({}, {}, {})
    monkeypatch.setattr(marks, "collision_key", collision_key)
    with store.transaction() as conn:  # another connector's: its names are taken
        taken = taken_names(conn, "other", ["ADA", "eve"], ["ada@x.org"], [])
    assert taken.logins == {"ada": "a user of connector hr"}
    assert taken.emails == {collision_key("ada@x.org"): "a user of connector hr"}
