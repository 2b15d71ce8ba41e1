"""Writing a run's object lists (``run_objects``): planned changes and objects left out.

What a dry or guarded run planned, and what any run left out (skipped, collided, out of
scope, dropped, waiting), with the reason. Every object is stored, however large the run:
the run page and ``idpsync runs show`` read them a page at a time
(:mod:`idpsync.store.run_query`), never as one document.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from sqlalchemy.engine import Connection

from idpsync.store import schema as t
from idpsync.store.store import Store, bulk_insert

COLUMNS = ("outcome", "op", "object_type", "source_id", "object_key", "before", "after", "reason")
"""The columns :func:`record` fills (``run_id`` is the same for every row)."""


def _rows(
    planned: Iterable[Mapping[str, Any]], left_out: Iterable[Mapping[str, Any]]
) -> Iterator[tuple[Any, ...]]:
    for entry in planned:
        op = str(entry["op"])
        yield (
            "planned",
            op,
            op.split(".", 1)[0],
            entry["source_id"],
            entry.get("key") or entry["source_id"],
            entry.get("before"),
            entry.get("after"),
            entry.get("reason") or None,
        )
    for item in left_out:
        yield (
            item["outcome"],
            None,
            item["object_type"],
            item["source_id"],
            item.get("key") or item["source_id"],
            None,
            None,
            item.get("reason") or None,
        )


def record(
    conn: Connection,
    run_id: int,
    planned: Iterable[Mapping[str, Any]],
    left_out: Iterable[Mapping[str, Any]],
) -> int:
    """Store a run's planned changes (report entries) and left-out objects; returns the count."""
    return bulk_insert(
        conn, t.run_objects, COLUMNS, _rows(planned, left_out), same={"run_id": run_id}
    )


def record_apart(
    store: Store,
    run_id: int,
    planned: Iterable[Mapping[str, Any]],
    left_out: Iterable[Mapping[str, Any]],
) -> None:
    """:func:`record` in a transaction of its own (dry and guarded runs roll theirs back)."""
    with store.transaction() as conn:
        record(conn, run_id, planned, left_out)
