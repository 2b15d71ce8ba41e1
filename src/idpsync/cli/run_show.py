"""``idpsync runs show RUN``: one run's changes and left-out objects, filtered like the run page.

``--format table`` (the default) prints readable tables, :data:`TABLE_ROWS` rows per outcome
unless ``--limit`` or ``--all`` says otherwise: the changes with only the fields they change,
then the skipped, collided, out-of-scope, dropped and waiting objects with their reasons.
``--format json`` and ``--format csv`` stream every matching entry (as the run page's exports
do); ``--format report`` prints the whole report document of earlier versions.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from enum import StrEnum
from itertools import islice
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from idpsync.cli.common import EXIT_USAGE, err, out
from idpsync.cli.listing import note_cut
from idpsync.cli.safe_output import cell, line, print_json
from idpsync.store import run_export, run_query
from idpsync.store.run_query import RunFilter
from idpsync.store.store import Store
from idpsync.textsafety import printable, safe_json

SHOWN_CHARS = 100
"""A value longer than this is cut in a table (``--format json`` or ``csv`` has it whole)."""


class Format(StrEnum):
    """How ``runs show`` prints a run."""

    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    REPORT = "report"


UserOption = Annotated[
    str | None,
    typer.Option("--user", "-u", help="Only entries about this login, e-mail, name or group."),
]
OpOption = Annotated[
    list[str] | None,
    typer.Option("--op", help="Only this operation, e.g. user.update (repeat for more)."),
]
OutcomeOption = Annotated[
    str | None,
    typer.Option(
        help="Only this outcome: changed, skipped, collided, out_of_scope, dropped, waiting, "
        "kept_inactive, photo_refused, photo_failed (table: all of them; json/csv: changed)."
    ),
]
FormatOption = Annotated[
    Format, typer.Option("--format", "-f", help="table, json, csv, or report (the whole report).")
]


def show_run(
    store: Store,
    run_id: int,
    filt: RunFilter,
    fmt: Format,
    *,
    limit: int | None,
    offset: int,
    every_outcome: bool,
) -> None:
    """Print run ``run_id`` under ``filt`` (``limit`` ``None``: every row)."""
    row = store.run(run_id)
    if row is None:
        err.print(f"no run {run_id} in the store")
        raise typer.Exit(EXIT_USAGE)
    if fmt is Format.REPORT:
        print_json(out, run_query.full_report(store, row), default=str)
        return
    if fmt is not Format.TABLE:
        entries = islice(run_query.stream(store, row, filt), offset, None)
        if limit is not None:
            entries = islice(entries, limit)
        chunks = (
            run_export.csv_lines(run_id, entries, printable)
            if fmt is Format.CSV
            else run_export.json_chunks(row, entries, lambda v: safe_json(v, indent=None))
        )
        _write(chunks)
        return
    line(out, _headline(row))
    outcomes = run_query.OUTCOMES if every_outcome else (filt.outcome,)
    counts: dict[str, int] = {}
    for outcome in outcomes:
        part = RunFilter(filt.q, filt.ops, outcome)
        found = run_query.page(store, row, part, limit or 10_000_000, offset)
        counts = counts or found.outcomes
        if outcome != "changed" and not found.total:
            continue
        out.print(_table(outcome, found.entries, found.total, row["status"]))
        note_cut(len(found.entries), found.total, offset, as_json=False)


def _headline(row: dict[str, Any]) -> str:
    summary = ", ".join(f"{k} {v}" for k, v in (row["summary"] or {}).items() if v)
    return printable(
        f"run {row['id']} of {row['connector']}: {row['status']}"
        f"{' (dry run)' if row['dry_run'] else ''}, started {row['started_at']:%Y-%m-%d %H:%M:%S}"
        f"{'; ' + summary if summary else ''}"
    )


def _short(text: str) -> str:
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def _fields(entry: dict[str, Any]) -> Text:
    result = Text()
    for i, (name, old, new) in enumerate(run_query.changed_fields(entry)):
        if i:
            result.append("\n")
        result.append(f"{name}: ", style="dim")
        if old:
            result.append(printable(_short(old)), style="red")
            result.append(" → ")
        result.append(printable(_short(new)) if new else "—", style="green" if new else "dim")
    return result


def _table(outcome: str, entries: list[dict[str, Any]], total: int, status: str) -> Table:
    planned = status in run_query.PLANNING
    title = {"changed": "planned changes" if planned else "changes"}.get(outcome, outcome)
    changes = outcome == "changed"
    columns = (
        ("#", "change", "object", "reason", "fields")
        if changes
        else ("#", "type", "object", "reason")
    )
    table = Table(*columns, title=f"{title} ({total:,})", title_justify="left")
    for e in entries:
        key = f"{e['key']} ({e['source_id']})" if e["key"] != e["source_id"] else e["key"]
        row: list[Text | str] = [
            str(e["seq"]),
            cell(e["op"] or e["object_type"]),
            cell(key),
            cell(e["reason"]),
        ]
        table.add_row(*row, *([_fields(e)] if changes else []))
    return table


def _write(chunks: Iterator[str]) -> None:
    try:
        for chunk in chunks:
            sys.stdout.write(chunk)
        sys.stdout.flush()
    except BrokenPipeError:  # `idpsync runs show 7 --format csv | head`: the reader has gone
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())  # the interpreter's last flush stays quiet
        except (OSError, ValueError):
            pass
        finally:
            os.close(devnull)
