"""Lists of ids in a query's condition: one array on PostgreSQL, ``IN`` lists on SQLite.

Looking up or deleting rows by a list of ids that can be long (the members a full read
changed, 18k at L with 1 % changed) took one statement per ``IN`` list of 500 ids: on
PostgreSQL, 37 round trips, each planned anew, and each a whole scan of a table whose
statistics were not gathered yet (``source_edge_digests`` after a first load: 2.7 s at L).
:func:`ids_in` gives one condition per statement instead: the ids bound as one array
(``column = ANY(:ids)``) on PostgreSQL, so the statement runs once whatever the count;
SQLite, whose bound parameters are limited, keeps ``IN`` lists of :data:`IN_LIST` ids.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

IN_LIST = 500
"""Ids per ``IN`` list on SQLite."""


def ids_in(
    conn: Connection, column: sa.ColumnElement[Any], ids: Sequence[Any]
) -> Iterator[sa.ColumnElement[bool]]:
    """Conditions that ``column`` is one of ``ids``, one per statement to run (none: no ids).

    PostgreSQL: one condition, the ids as one array of ``column``'s type; SQLite: one ``IN``
    list per :data:`IN_LIST` ids.
    """
    if not ids:
        return
    if conn.dialect.name == "postgresql":
        yield column == sa.any_(sa.bindparam("ids", list(ids), type_=ARRAY(column.type)))
        return
    for start in range(0, len(ids), IN_LIST):
        yield column.in_(ids[start : start + IN_LIST])
