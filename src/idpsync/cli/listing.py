"""How ``users`` and ``groups`` print listings: complete JSON streamed, tables paged.

``--json`` prints a JSON array of every matching row (``--limit`` and ``--offset`` cut it when
asked; a cut is then noted on standard error). The array is written as the rows are read, one
object per line, so memory stays flat however large the directory is. A table shows 100 rows
unless ``--all`` or ``--limit`` says otherwise, and says so when rows are left out.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import Annotated, Any

import typer

from idpsync.cli.common import EXIT_USAGE, err, out
from idpsync.textsafety import safe_json

TABLE_ROWS = 100
"""Rows a table shows without ``--all`` or ``--limit``."""

LimitOption = Annotated[
    int | None,
    typer.Option(
        min=1,
        help=f"Show at most this many rows (default: {TABLE_ROWS} in a table, all with --json).",
        show_default=False,
    ),
]
AllOption = Annotated[
    bool, typer.Option("--all", help="Show every matching row (the default with --json).")
]
OffsetOption = Annotated[int, typer.Option(min=0, help="Skip this many rows first.")]


def row_limit(limit: int | None, all_rows: bool, as_json: bool) -> int | None:
    """The number of rows to read (``None``: all), or exit 2 for ``--all`` with ``--limit``."""
    if all_rows and limit is not None:
        err.print("--all and --limit exclude each other")
        raise typer.Exit(EXIT_USAGE)
    if all_rows or (as_json and limit is None):
        return None
    return TABLE_ROWS if limit is None else limit


def note_cut(shown: int, total: int, offset: int, *, as_json: bool) -> None:
    """Say that ``shown`` of ``total`` rows were printed, when some were left out."""
    if shown + offset >= total:
        return
    first = f" from row {offset + 1}" if offset else ""
    if as_json:
        err.print(f"printed {shown:,} of {total:,}{first} (--limit); without it: all", markup=False)
    else:
        out.print(f"showing {shown:,} of {total:,}{first}; use --all or --limit N", markup=False)


def _dumps(value: Any) -> str:
    return safe_json(value, indent=None, default=str)  # IdP text: C1 and bidi escaped too


def write_array(items: Iterable[Any]) -> int:
    """Write ``items`` as a JSON array to standard output, as they come; returns the count.

    An item is a JSON-able value, or a ``(dict, key, iterator)`` triple whose iterator is
    written, as it comes, as the list under ``key``.
    """
    write = sys.stdout.write
    count = 0
    try:
        write("[")
        for item in items:
            write(",\n" if count else "\n")
            if isinstance(item, tuple):
                _write_nested(write, *item)
            else:
                write(_dumps(item))
            count += 1
        write("\n]\n" if count else "]\n")
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. `idpsync users --json | head`: the reader has gone
        _quiet_stdout()
    return count


def _write_nested(write: Any, head: dict[str, Any], key: str, rest: Iterator[Any]) -> None:
    write(_dumps(head)[:-1] + ("," if head else "") + f"{_dumps(key)}: [")
    for i, value in enumerate(rest):
        write((", " if i else "") + _dumps(value))
    write("]}")


def _quiet_stdout() -> None:
    """Point standard output at /dev/null so the interpreter's final flush stays silent."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # not a real file (a test runner's buffer)
        pass
    finally:
        os.close(devnull)
