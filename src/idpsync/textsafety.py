r"""Text from an IdP, shown safely on a terminal: control characters made visible.

A display name, group name or error body comes from the IdP and may carry terminal escape
sequences (``ESC ] 0 ; title BEL`` sets the window title, ``ESC ] 52 ; c ; …`` writes the
clipboard, ``ESC [ 2 J`` clears the screen, the one-byte C1 ``CSI`` ``\x9b`` does the same as
``ESC [``), or bidi overrides and invisible characters that make one name look like another.
:func:`printable` turns every such character into a visible escape (``\x1b``, ``\u202e``)
before the text is printed; :func:`safe_json` does the same for JSON, which ``json.dumps``
escapes only for C0 controls when it keeps non-ASCII characters (``ensure_ascii=False``).

Escaped are the Unicode categories Cc (C0 and C1 controls, ``DEL``), Cf (format characters:
bidi controls, zero-width characters, the soft hyphen), Cs (lone surrogates), Zl and Zp (line
and paragraph separators). Everything else — accents, other scripts, emoji — stays as it is.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def unsafe(char: str) -> bool:
    """Whether a character must not reach a terminal as it is."""
    return unicodedata.category(char) in UNSAFE_CATEGORIES


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: object) -> str:
    """``text`` (made a string) with every unsafe character written as a visible escape."""
    value = str(text)
    if value.isascii() and value.isprintable():  # the common case: nothing to do
        return value
    return "".join(_escape(c) if unsafe(c) else c for c in value)


def safe_json(data: Any, indent: int | None = 2, **kw: Any) -> str:
    r"""``data`` as JSON that keeps readable non-ASCII text but escapes every unsafe character.

    ``json.dumps`` already escapes C0 controls; this also escapes ``DEL``, C1 controls, bidi
    controls, zero-width and other format characters as ``\uXXXX`` (the same string to a
    JSON reader). Such characters can only occur inside JSON strings, so the escaping is exact.
    """
    text = json.dumps(data, ensure_ascii=False, indent=indent, **kw)
    if text.isascii() and "\x7f" not in text:
        return text
    return "".join(_escape_json_char(c) if ord(c) >= 0x7F and unsafe(c) else c for c in text)


def _escape_json_char(char: str) -> str:
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    high, low = divmod(code - 0x10000, 0x400)
    return f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04x}"
