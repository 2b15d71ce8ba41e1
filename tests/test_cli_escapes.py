"""Terminal escapes in IdP data never reach the terminal raw: the CLI shows them as escapes."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from idpsync.textsafety import printable, safe_json, unsafe
from tests.filedata import write
from tests.test_cli import idpsync, make_config

TITLE = "\x1b]0;pwned title\x07"
CLIPBOARD = "\x1b]52;c;ZWNobyBoaQ==\x07"
CSI = "\x9b2J"
RAW = ("\x1b", "\x9b", "\x07", "\u202e")


def _hostile() -> dict[str, object]:
    users = [
        {
            "id": "id-1",
            "login": "ada",
            "email": "ada@example.org",
            "display_name": f"Ada {TITLE}{CLIPBOARD}{CSI} \u202etxt.exe",
            "active": True,
        },
        {
            "id": "id-2",
            "login": f"bob{TITLE}",
            "email": "bob@example.org",
            "display_name": "Bob",
            "active": True,
        },
    ]
    groups = [
        {"id": "g-1", "name": "Staff", "description": "the staff", "members": ["id-1"]},
    ]
    return {"users": users, "groups": groups}


def _assert_clean(output: str) -> None:
    for char in RAW:
        assert char not in output, (char, output)


def test_idp_text_is_printed_with_visible_escapes(tmp_path: Path) -> None:
    write(tmp_path / "people.json", _hostile())
    cfg = str(make_config(tmp_path, f"sqlite:///{tmp_path / 'd.db'}"))
    code, out = idpsync("sync", "hr", "--config", cfg)
    _assert_clean(out)
    assert "skipped user" in out and "\\x1b]0;pwned title\\x07" in out
    # Syncs strip C0 controls from display names and refuse them in names, but a store written
    # by an older version (or by hand) may hold anything: put the hostile text back directly.
    with sqlite3.connect(tmp_path / "d.db") as db:
        db.execute(
            "UPDATE users SET display_name = ? WHERE login = 'ada'",
            (f"Ada {TITLE}{CLIPBOARD}{CSI} \u202etxt.exe",),
        )
        db.execute("UPDATE groups SET name = ?, description = ?", (f"Staff{CSI}", CLIPBOARD))
    for args in (
        ("users",),
        ("users", "--json"),
        ("groups", "--members"),
        ("groups", "--members", "--json"),
        ("runs", "show", "1"),
    ):
        code, out = idpsync(*args, "--config", cfg)
        assert code == 0, out
        _assert_clean(out)
        assert "\\x1b" in out or "\\u001b" in out, args
    _assert_clean(idpsync("runs", "--config", cfg)[1])
    code, out = idpsync("users", "--json", "--config", cfg)
    (ada,) = json.loads(out)
    assert ada["display_name"] == f"Ada {TITLE}{CLIPBOARD}{CSI} \u202etxt.exe"
    code, out = idpsync("users", "--config", cfg)
    assert code == 0
    flat = re.sub(r"[\s│┃]", "", out)  # the table wraps long cells
    assert "\\x1b]0;pwned" in flat and "\\u202etxt.exe" in flat
    _assert_clean(idpsync("sync", "hr", "--json", "--config", cfg)[1])


def test_printable_examples() -> None:
    assert printable("José Müller 李") == "José Müller 李"
    assert printable("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert printable("\x9b\x7f\u200b\u00ad\u202e\n") == "\\x9b\\x7f\\u200b\\xad\\u202e\\x0a"
    assert printable("\U000e0041") == "\\U000e0041"  # a tag character (hidden text)


@given(st.text())
def test_printable_leaves_no_unsafe_character(text: str) -> None:
    assert not any(unsafe(c) for c in printable(text))


@given(st.recursive(st.text() | st.integers() | st.none(), lambda inner: st.lists(inner)))
def test_safe_json_round_trips_and_has_no_unsafe_character(data: object) -> None:
    text = safe_json(data)
    assert json.loads(text) == data
    assert not any(unsafe(c) and c not in "\n" for c in text)
