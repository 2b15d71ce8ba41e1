"""OData query handling as Microsoft Graph does it: ``$top``, ``$select``, ``$filter``, ``$count``.

Also the error type every handler raises (:class:`GraphError`, rendered in Graph's envelope) and
the opaque page / delta tokens (base64url JSON; clients must treat them as opaque).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Predicate = Callable[[Mapping[str, Any]], bool]

MAX_TOP = 999
DEFAULT_TOP = 100


class GraphError(Exception):
    """An error answer: HTTP status, Graph error code, message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def not_found(key: str) -> GraphError:
    """Graph's 404 for a missing directory object."""
    return GraphError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{key}' does not exist or one of its queried reference-property objects "
        "are not present.",
    )


def encode_token(state: Mapping[str, Any]) -> str:
    """An opaque token carrying ``state``."""
    raw = json.dumps(state, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> dict[str, Any]:
    """Inverse of :func:`encode_token`; a malformed token is a 400 like Graph's."""
    try:
        padded = token + "=" * (-len(token) % 4)
        state = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise GraphError(400, "Request_BadRequest", "Invalid skip token or delta token.") from exc
    if not isinstance(state, dict):
        raise GraphError(400, "Request_BadRequest", "Invalid skip token or delta token.")
    return state


@dataclass(frozen=True, slots=True)
class Query:
    """The parsed query options of one collection request."""

    top: int
    select: tuple[str, ...] | None
    filter: str | None
    count: bool
    skiptoken: str | None


EXTENSION = re.compile(r"extension_[0-9a-f]{32}_[A-Za-z0-9_]+")
"""A directory extension property (``extension_<appId without dashes>_<name>``): any such name
may be selected; an object without a value for it leaves it out."""


def parse_query(
    params: Mapping[str, str], headers: Mapping[str, str], allowed: frozenset[str]
) -> Query:
    """Validate ``$top``/``$select``/``$count``; ``allowed`` = property names of the type."""
    top = DEFAULT_TOP
    if "$top" in params:
        raw = params["$top"]
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_TOP:
            raise GraphError(
                400,
                "Request_BadRequest",
                f"Invalid page size specified: '{raw}'. Must be between 1 and 999 inclusive.",
            )
        top = int(raw)
    select = None
    if params.get("$select"):
        select = tuple(s.strip() for s in params["$select"].split(",") if s.strip())
        for name in select:
            if name not in allowed and not EXTENSION.fullmatch(name):
                raise GraphError(
                    400,
                    "Request_BadRequest",
                    f"Could not find a property named '{name}' on type 'microsoft.graph'.",
                )
    eventual = headers.get("consistencylevel", "").lower() == "eventual"
    # Graph ignores ``$count=true`` without the header (no ``@odata.count``, no error): the
    # "Error handling for advanced queries" section of Graph's advanced-query docs.
    count = params.get("$count", "").lower() == "true" and eventual
    if "$search" in params and not eventual:
        raise GraphError(
            400,
            "Request_UnsupportedQuery",
            "Request with $search query parameter only works through MSGraph with a special "
            "request header: 'ConsistencyLevel: eventual'",
        )
    return Query(top, select, params.get("$filter"), count, params.get("$skiptoken"))


_STRING = r"'((?:[^']|'')*)'"
_STARTSWITH = re.compile(rf"^startswith\((\w+),\s*{_STRING}\)$", re.I)
_CLAUSES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"^(\w+) eq {_STRING}$", re.I), "eq"),
    (re.compile(rf"^(\w+) ne {_STRING}$", re.I), "ne"),
    (re.compile(r"^(\w+) eq (true|false)$", re.I), "eqbool"),
    (_STARTSWITH, "startswith"),
    (re.compile(rf"^endswith\((\w+),\s*{_STRING}\)$", re.I), "endswith"),
)
ADVANCED = frozenset({"ne", "endswith"})


def prefix_of(text: str) -> tuple[str, str] | None:
    """``(property, lower-cased prefix)`` of a filter that is one ``startswith`` clause."""
    match = _STARTSWITH.match(text.strip()) if " or " not in text.lower() else None
    return (match.group(1), match.group(2).replace("''", "'").lower()) if match else None


def _clause(text: str, advanced_ok: bool) -> Predicate:
    for regex, op in _CLAUSES:
        match = regex.match(text.strip())
        if not match:
            continue
        if op in ADVANCED and not advanced_ok:
            raise GraphError(
                400,
                "Request_UnsupportedQuery",
                f"Operator '{op}' is not supported because the required parameters might be "
                "missing. Try adding $count with a value of true and ConsistencyLevel header "
                "with a value of eventual.",
            )
        name, value = match.group(1), match.group(2).replace("''", "'")
        return _predicate(op, name, value)
    raise GraphError(
        400, "Request_UnsupportedQuery", f"Unsupported or invalid query filter clause: '{text}'."
    )


def _predicate(op: str, name: str, value: str) -> Predicate:
    low = value.lower()
    if op == "eqbool":
        wanted = low == "true"
        return lambda o: o.get(name) is wanted
    if op == "startswith":
        return lambda o: str(o.get(name) or "").lower().startswith(low)
    if op == "endswith":
        return lambda o: str(o.get(name) or "").lower().endswith(low)
    if op == "ne":
        return lambda o: str(o.get(name) or "").lower() != low
    return lambda o: str(o.get(name) or "").lower() == low


def compile_filter(text: str, *, advanced_ok: bool) -> Predicate:
    """``$filter`` basics: ``eq``, ``startswith``, booleans, joined by ``and`` (or by ``or``)."""
    if " or " in text.lower():
        parts = [_clause(p, advanced_ok) for p in re.split(r"\s+or\s+", text, flags=re.I)]
        return lambda o: any(p(o) for p in parts)
    parts = [_clause(p, advanced_ok) for p in re.split(r"\s+and\s+", text, flags=re.I)]
    return lambda o: all(p(o) for p in parts)
