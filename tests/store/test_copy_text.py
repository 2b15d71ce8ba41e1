"""Plain text rows sent to PostgreSQL's ``COPY`` as one block: the same rows stored, and any
value the text format would escape sent row by row instead (SQLite: its own inserts)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from idpsync.store import Store
from idpsync.store import schema as t
from idpsync.store import store as store_module
from idpsync.store.copy_text import text_block
from idpsync.store.store import bulk_insert

AWKWARD = ["tab\there", "new\nline", "back\\slash", "cr\rhere", "\\N", "", "naïve ✓"]
EDGE = ("group_id", "member_kind", "member_id")


def test_a_block_holds_plain_rows_and_their_tail() -> None:
    rows = [("g1", "user", "u1"), ("g2", "group", "")]
    assert text_block(rows, 3, ("hr", 7)) == "g1\tuser\tu1\thr\t7\ng2\tgroup\t\thr\t7\n"
    assert text_block(rows, 3, ()) == "g1\tuser\tu1\ng2\tgroup\t\n"
    for value in AWKWARD[:5]:
        assert text_block([("g", "user", value)], 3, ()) is None
        assert text_block(rows, 3, (value,)) is None
    assert text_block([("g", "user", None)], 3, ()) is None
    assert text_block([("g", "user")], 3, ()) is None
    assert text_block(rows, 3, (True,)) is None


def _staged(store: Store) -> list[tuple[Any, ...]]:
    m = t.source_memberships.c
    with store.engine.connect() as conn:
        query = sa.select(m.group_id, m.member_kind, m.member_id, m.connector, m.run_id)
        return sorted(tuple(r) for r in conn.execute(query))


@pytest.mark.parametrize("batch", [1, 3, 100])
def test_plain_and_awkward_values_are_stored_as_given(
    store: Store, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    blocks: list[str | None] = []

    def recorded(*args: Any) -> str | None:
        blocks.append(text_block(*args))
        return blocks[-1]

    monkeypatch.setattr(store_module, "text_block", recorded)
    rows = [(f"g{i}", "user", value) for i, value in enumerate(AWKWARD)] + [
        (f"p{i}", "user", f"u{i}") for i in range(5)
    ]
    with store.transaction() as conn:
        store.ensure_connector(conn, "hr", "file")
        same = {"connector": "hr", "run_id": 3}
        assert bulk_insert(conn, t.source_memberships, EDGE, rows, same=same, batch=batch) == 12
    assert _staged(store) == sorted((*row, "hr", 3) for row in rows)
    if store.engine.dialect.name == "postgresql":  # the plain batches went as blocks
        assert None in blocks  # the awkward ones row by row
        assert any(block is not None for block in blocks) == (batch < 100)
    else:
        assert blocks == []
