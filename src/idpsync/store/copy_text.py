"""PostgreSQL ``COPY`` rows of plain text sent as one text block a batch, not row by row.

:func:`idpsync.store.store.bulk_insert` writes a batch with psycopg's ``write_row``, one call
a row (≈1 µs of Python each, plus its formatting): at L a first load's million staged edges
cost ≈1–2 s of the process's CPU there, while the server waits. Rows of plain strings need no
formatting at all in ``COPY``'s text format as long as no value holds a backslash, a tab, a
newline or a carriage return (the format's escapes and separators): :func:`text_block` joins
such a batch into one string, checked by counting its separators, and gives up (``None``: the
caller writes row by row as before) on any other value. The rows stored are the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def text_block(rows: Sequence[Sequence[Any]], width: int, tail: Sequence[Any]) -> str | None:
    """``rows`` (``width`` strings each) and then ``tail`` (the same in every row) as COPY text.

    ``tail`` may hold strings and integers. ``None`` when a value is anything else, or holds
    a character the text format escapes or separates by.
    """
    tail_text = ""
    for value in tail:
        if isinstance(value, bool) or not isinstance(value, str | int):
            return None
        tail_text += "\t" + str(value)
    if any(len(row) != width for row in rows):
        return None
    try:
        body = "\n".join(map("\t".join, rows))
    except TypeError:  # a value that is not a string
        return None
    if "\\" in body or "\r" in body or any(c in tail_text for c in "\\\r\n"):
        return None
    count = len(rows)
    if body.count("\t") != count * (width - 1) or body.count("\n") != count - 1:
        return None  # a tab or a newline in a value
    if tail_text.count("\t") != len(tail):
        return None
    if tail_text:
        body = body.replace("\n", tail_text + "\n") + tail_text
    return body + "\n"
