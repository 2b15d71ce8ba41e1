"""``bulk_insert``: batching boundaries, and rows stored exactly as a Core insert stores them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from idpsync.store import Store
from idpsync.store import schema as t
from idpsync.store import store as store_module
from idpsync.store.store import bulk_insert, now, raw_rows

STAMP = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
COLUMNS = ("run_id", "connector", "at", "op", "object_type", "source_id", "before", "after")


def _rows(count: int, start: int = 0) -> list[tuple[Any, ...]]:
    return [
        (1, "hr", STAMP, "user.create", "user", f"u{i:05d}", None, {"n": i, "é": [True, None]})
        for i in range(start, start + count)
    ]


def _run(store: Store) -> None:
    with store.transaction() as conn:
        conn.execute(
            t.runs.insert().values(
                id=1,
                connector="hr",
                mode="full",
                dry_run=False,
                status="running",
                started_at=now(),
                summary={},
                stats={},
                host="h",
                pid=1,
            )
        )


def _stored(store: Store) -> list[tuple[Any, ...]]:
    c = t.changes.c
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(c.source_id, c.at, c.before, c.after, sa.cast(c.before, sa.Text))
            .where(c.connector == "hr")
            .order_by(c.seq)
        )
        return [tuple(r) for r in rows]


@pytest.mark.parametrize("count", [0, 1, 4, 5, 6, 10, 11])
def test_every_row_is_inserted_once_in_order_across_batch_boundaries(
    store: Store, count: int
) -> None:
    _run(store)
    with store.transaction() as conn:
        done = bulk_insert(conn, t.changes, COLUMNS, iter(_rows(count)), batch=5)
    assert done == count
    stored = _stored(store)
    assert [r[0] for r in stored] == [f"u{i:05d}" for i in range(count)]


def test_values_are_stored_as_a_core_insert_stores_them(store: Store) -> None:
    _run(store)
    with store.transaction() as conn:
        conn.execute(t.changes.insert(), [dict(zip(COLUMNS, row, strict=True)) for row in _rows(2)])
        bulk_insert(conn, t.changes, COLUMNS, _rows(2), batch=1)
    stored = _stored(store)
    core, bulk = stored[:2], stored[2:]
    assert [r[1:] for r in core] == [r[1:] for r in bulk]
    assert bulk[0][2] is None  # a None in a JSON column is JSON null, as through Core
    assert bulk[0][4] == "null"
    assert bulk[1][3] == {"n": 1, "é": [True, None]}


def test_raw_columns_are_passed_unchanged(store: Store) -> None:
    _run(store)
    rows = [(*row[:6], "null", '{"n": 1}') for row in _rows(1)]
    with store.transaction() as conn:
        bulk_insert(conn, t.changes, COLUMNS, rows, raw=("before", "after"))
    assert _stored(store)[0][2:4] == (None, {"n": 1})


def test_a_rollback_undoes_bulk_rows(store: Store) -> None:
    _run(store)
    with pytest.raises(RuntimeError), store.transaction() as conn:
        bulk_insert(conn, t.changes, COLUMNS, _rows(7), batch=3)
        raise RuntimeError
    assert _stored(store) == []


def test_a_column_with_only_a_python_default_must_be_given(store: Store) -> None:
    with pytest.raises(ValueError, match="attributes"), store.transaction() as conn:
        bulk_insert(conn, t.users, ("source_id",), [])


@pytest.mark.parametrize("count", [3, 4])
def test_same_values_are_stored_in_every_row(store: Store, count: int) -> None:
    _run(store)
    rows = [row[3:] for row in _rows(count)]
    same = {"run_id": 1, "connector": "hr", "at": STAMP}
    with store.transaction() as conn:
        conn.execute(t.changes.insert(), [dict(zip(COLUMNS, row, strict=True)) for row in _rows(1)])
        bulk_insert(conn, t.changes, COLUMNS[3:], rows, same=same, batch=3)
    stored = _stored(store)
    assert [r[0] for r in stored] == ["u00000", *(f"u{i:05d}" for i in range(count))]
    assert all(r[1] == stored[0][1] and r[4] == "null" for r in stored)  # rows say connector hr
    assert [r[3]["n"] for r in stored[1:]] == list(range(count))


@pytest.mark.parametrize("count", [0, 2, 3])
def test_raw_rows_reads_every_row_across_fetch_batches(
    store: Store, count: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(store)
    with store.transaction() as conn:
        bulk_insert(conn, t.changes, COLUMNS, _rows(count))
    monkeypatch.setattr(store_module, "BATCH", 2)
    c = t.changes.c
    with store.transaction() as conn:
        rows = list(
            raw_rows(
                conn, sa.select(c.source_id, c.run_id).where(c.connector == "hr").order_by(c.seq)
            )
        )
    assert rows == [(f"u{i:05d}", 1) for i in range(count)]


def test_dict_rows_from_a_generator_are_written_a_batch_at_a_time(store: Store) -> None:
    """``_insert`` (a first load's users and groups) never holds every row: it takes a batch,
    writes it, then takes the next (the table holds the first batch when the next is made)."""
    seen: list[int] = []

    def groups(conn: sa.Connection) -> Iterator[dict[str, Any]]:
        for i in range(store_module.BATCH + 3):
            if i == store_module.BATCH:
                count = sa.select(sa.func.count()).select_from(t.groups)
                seen.append(conn.execute(count).scalar_one())
            name = f"g{i:05d}"
            at = now()
            yield {
                "connector": "hr",
                "source_id": name,
                "name": name,
                "name_key": name,
                "created_at": at,
                "updated_at": at,
            }

    with store.transaction() as conn:
        store.ensure_connector(conn, "hr", "file")
        store_module._insert(conn, t.groups, groups(conn))
        store_module._insert(conn, t.groups, iter(()))  # nothing to insert: no statement
    with store.engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(t.groups)).scalar_one()
    assert seen == [store_module.BATCH] and total == store_module.BATCH + 3
