"""Where a configuration error is, said the way the administrator wrote the file.

pydantic reports a validation error at a location such as ``("connectors", "hr", "source",
"file", "path")``. :func:`describe_errors` turns each into ``idpsync.toml:14:
connectors.hr.source.path: required key is missing``: the key as written in the TOML, the line
it is set on (:func:`locate_key`), and a message that never quotes the value (it may be a
secret).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError


def describe_errors(exc: ValidationError, text: str, name: str) -> list[str]:
    """One ``name:line: key: problem`` line per validation error, without the values.

    The key is the TOML key the administrator wrote (a source's ``type`` tag is left out);
    the line is where it is set, or where its table starts (:func:`locate_key`).
    """
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = tuple(str(part) for part in error["loc"])
        # A discriminated union adds the tag ("file") to the location; drop it for the user.
        loc = tuple(part for i, part in enumerate(loc) if not _is_union_tag(loc, i))
        if error["type"] == "union_tag_invalid":  # point at the ``type`` key itself
            loc = (*loc, "type")
        key = ".".join(loc) or "(top level)"
        message = _message(error)
        line = locate_key(text, loc)
        where = f"{name}:{line}" if line else name
        problems.append(f"{where}: {key}: {message}")
    return problems


def _is_union_tag(loc: tuple[str, ...], index: int) -> bool:
    return index > 0 and loc[index - 1] == "source" and loc[index] in _SOURCE_TYPES


_SOURCE_TYPES = {"entra", "file", "google", "keycloak", "okta", "onelogin"}


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key (check its spelling and the table it is in)"
    if kind == "missing":
        return "required key is missing"
    if kind == "union_tag_invalid":
        tags = ", ".join(sorted(_SOURCE_TYPES))
        return f"unknown source type (one of: {tags})"
    if kind == "union_tag_not_found":
        return "the source needs a 'type' key"
    if kind == "literal_error" and error["loc"][-1] == "type" and error["loc"][0] == "targets":
        return "unknown target type (one of: crowd, ldap, scim)"
    if kind == "literal_error" and error["loc"][-1] == "type":
        tags = ", ".join(sorted(_SOURCE_TYPES))
        return f"unknown source type (one of: {tags})"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_.-]+(?:\s*\.\s*[A-Za-z0-9_-]+)*)\s*=""")


def _split_key(key: str) -> tuple[str, ...]:
    parts = re.findall(r'"([^"]*)"|\'([^\']*)\'|([A-Za-z0-9_-]+)', key)
    return tuple(next(p for p in part if p) if any(part) else "" for part in parts)


def locate_key(text: str, loc: tuple[str, ...]) -> int | None:
    """The 1-based line where the key at ``loc`` is set, or where its table starts.

    A best effort over plain TOML (tables, dotted keys); ``None`` when it cannot tell.
    """
    best: tuple[int, int] | None = None  # (matched length, line)
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            table = _split_key(header.group(1))
            candidate = table
        else:
            key = _KEY.match(line)
            if not key:
                continue
            candidate = table + _split_key(key.group(1))
        matched = _common_prefix(candidate, loc)
        if matched == len(candidate) and matched and (best is None or matched > best[0]):
            best = (matched, number)
    return best[1] if best else None


def _common_prefix(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    count = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        count += 1
    return count
