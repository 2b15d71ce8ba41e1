"""Printing text that came from an IdP (or a target): no terminal escapes, no Rich markup.

Table cells are :class:`rich.text.Text` built from :func:`~idpsync.textsafety.printable`
strings (a name like ``[red]`` or ``[/]`` is shown as it is, not read as markup); JSON is
:func:`~idpsync.textsafety.safe_json`, printed without highlighting.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

from idpsync.textsafety import printable, safe_json


def cell(value: object) -> Text:
    """A table cell showing ``value`` (``None`` as empty) with control characters visible."""
    return Text("" if value is None else printable(value))


def line(console: Console, text: str) -> None:
    """Print one line of plain text (already made :func:`printable` where it holds IdP data)."""
    console.print(text, markup=False, emoji=False, highlight=False)


def print_json(console: Console, data: Any, **kw: Any) -> None:
    """Print ``data`` as indented JSON with every unsafe character escaped."""
    line(console, safe_json(data, **kw))
