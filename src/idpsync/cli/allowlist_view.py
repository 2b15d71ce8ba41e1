"""How ``idpsync endpoints`` prints the allow-list: a table, CSV or JSON, URLs always whole.

On a terminal the table is drawn by rich with the URL column folded rather than cut; anywhere
else (a pipe, a file) it is plain text with columns padded to their widest cell, so nothing is
ever shortened to the terminal's width.
"""

from __future__ import annotations

import csv
import io
import json

from rich.console import Console
from rich.table import Table

from idpsync.allowlist import AllowList

COLUMNS = ("used by", "method", "url", "purpose", "needs", "via")


def cells(allowed: AllowList) -> list[list[str]]:
    """One list of column values per row."""
    return [
        [
            ", ".join(r.used_by),
            r.method,
            r.url,
            r.purpose,
            r.permission or "",
            f"proxy {r.proxy}" if r.proxy else "direct",
        ]
        for r in allowed.rows
    ]


def plain_table(rows: list[list[str]]) -> str:
    """Columns padded to their widest cell; no width limit, nothing truncated."""
    widths = [max(len(c[i]) for c in [list(COLUMNS), *rows]) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [list(COLUMNS), *rows]
    ]
    return "\n".join(lines)


def as_csv(allowed: AllowList) -> str:
    """The rows as CSV with a header line."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["used_by", "method", "url", "host", "port", "purpose", "permission", "proxy"])
    for r in allowed.rows:
        writer.writerow(
            [
                " ".join(r.used_by),
                r.method,
                r.url,
                r.host,
                r.port,
                r.purpose,
                r.permission or "",
                r.proxy or "",
            ]
        )
    return buffer.getvalue()


def as_json(allowed: AllowList, names: list[str]) -> str:
    """The JSON document (``connector`` is kept when exactly one connector was named)."""
    data = allowed.as_json()
    if len(names) == 1:
        data = {"connector": names[0], **data}
    return json.dumps(data, indent=2)


def print_table(allowed: AllowList, console: Console) -> None:
    """Notes, the table, and what the firewall must let this machine open."""
    for note in allowed.notes:
        console.print(note, markup=False)
    if not allowed.rows:
        return
    rows = cells(allowed)
    if console.is_terminal:
        table = Table(*COLUMNS)
        table.columns[2].overflow = "fold"
        for row in rows:
            table.add_row(*row)
        console.print(table)
    else:
        console.print(plain_table(rows), markup=False, soft_wrap=True)
    console.print("Outbound connections this machine must be allowed to open:", markup=False)
    for opening in allowed.openings():
        console.print(f"  {opening.describe()}", markup=False, soft_wrap=True)
