"""A run's entries as CSV or JSON, written an entry at a time (exports and ``runs show``)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from idpsync.engine import report
from idpsync.store import run_query

EXPORT_COLUMNS = (
    "run",
    "position",
    "outcome",
    "op",
    "object_type",
    "source_id",
    "key",
    "reason",
    "fields",
    "before",
    "after",
)
"""The CSV export's columns (``fields``: the changed fields, ``before``/``after``: JSON)."""


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def csv_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: a leading ``= + - @`` (a formula) gets a ``'``."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_lines(
    run_id: int, entries: Iterable[Mapping[str, Any]], clean: Callable[[str], str] = str
) -> Iterator[str]:
    """The CSV export, a header and one line per entry (values as text, real Unicode).

    ``clean`` rewrites each value (the command line makes control characters visible).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    for entry in entries:
        fields = ";".join(name for name, _old, _new in run_query.changed_fields(entry))
        values = [
            str(run_id),
            str(entry["seq"]),
            entry["outcome"],
            entry["op"] or "",
            entry["object_type"],
            entry["source_id"],
            entry["key"] or "",
            entry["reason"],
            fields,
            run_query.shown(entry["before"]),
            run_query.shown(entry["after"]),
        ]
        writer.writerow([csv_cell(clean(v)) for v in values])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def json_chunks(
    row: Mapping[str, Any],
    entries: Iterable[Mapping[str, Any]],
    dumps: Callable[[Any], str] = _dumps,
) -> Iterator[str]:
    """The JSON export: ``{"run": {...}, "entries": [...]}``, written an entry at a time."""
    facts = json.dumps(report.run_facts(dict(row)), default=str, ensure_ascii=False)
    yield f'{{"run": {facts},\n "entries": ['
    comma = ""
    for entry in entries:
        yield comma + "\n  " + dumps(entry)
        comma = ","
    yield "\n]}\n"


def chunked(parts: Iterable[str], size: int = 64 * 1024) -> Iterator[str]:
    """``parts`` joined into pieces of about ``size`` characters (fewer, larger writes)."""
    pending: list[str] = []
    length = 0
    for part in parts:
        pending.append(part)
        length += len(part)
        if length >= size:
            yield "".join(pending)
            pending, length = [], 0
    if pending:
        yield "".join(pending)
