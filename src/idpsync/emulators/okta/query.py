"""Okta's ``filter`` / ``search`` expressions and ``Link`` paging, as the emulator reads them.

Grammar (enough for what connectors send): ``attr op value`` terms joined by ``and`` or
``or`` (``and`` binds tighter; no parentheses). ``value`` is a double-quoted string, ``true``,
``false`` or a bare word. ``filter`` allows ``eq`` on its attributes and ``gt ge lt le`` on
date attributes; ``search`` also allows ``sw`` and ``co`` and any ``profile.*`` attribute.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

TERM = re.compile(r'\s*([A-Za-z_.]+)\s+(eq|gt|ge|lt|le|sw|co)\s+("(?:[^"\\]|\\.)*"|\S+)\s*')
DATES = frozenset({"lastUpdated", "lastMembershipUpdated", "created", "statusChanged"})


class QueryError(ValueError):
    """An expression the emulator (like Okta) does not accept."""


@dataclass(frozen=True, slots=True)
class Term:
    """One comparison."""

    attr: str
    op: str
    value: str


Expression = list[list[Term]]
"""Disjunction of conjunctions."""


def parse(text: str, allowed: frozenset[str], *, search: bool) -> Expression:
    """Parse ``text``; attributes outside ``allowed`` (and not ``profile.*`` in search) fail."""
    result: Expression = []
    for alternative in re.split(r"\s+or\s+", text.strip()):
        terms = []
        for part in re.split(r"\s+and\s+", alternative):
            match = TERM.fullmatch(part)
            if match is None:
                raise QueryError(f"Invalid search criteria: {part.strip()!r}")
            attr, op, raw = match.groups()
            if attr not in allowed and not (search and attr.startswith("profile.")):
                raise QueryError(f"Invalid search criteria: attribute {attr!r}")
            if op in ("sw", "co") and not search:
                raise QueryError(f"Invalid search criteria: operator {op!r} needs search")
            if op in ("gt", "ge", "lt", "le") and attr not in DATES:
                raise QueryError(f"Invalid search criteria: {op!r} on {attr!r}")
            value = raw[1:-1].replace('\\"', '"') if raw.startswith('"') else raw
            terms.append(Term(attr, op, value))
        result.append(terms)
    return result


def _holds(term: Term, actual: str | None) -> bool:
    if actual is None:
        return False
    if term.attr in DATES:
        a, b = actual[:19], term.value[:19]
    else:
        a, b = actual.lower(), term.value.lower()
    op = term.op  # only the asked comparison is made (a filter runs over every object)
    if op == "eq":
        return a == b
    if op == "sw":
        return a.startswith(b)
    if op == "co":
        return b in a
    return {"gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[op]


def matcher(expression: Expression) -> Callable[[Mapping[str, str | None]], bool]:
    """A predicate over flattened objects (``{"status": …, "profile.login": …}``)."""

    def matches(values: Mapping[str, str | None]) -> bool:
        return any(all(_holds(t, values.get(t.attr)) for t in terms) for terms in expression)

    return matches


def mentions(expression: Expression, attr: str, value: str) -> bool:
    """True if some term is ``attr eq value`` (e.g. whether DEPROVISIONED users are asked for)."""
    return any(
        t.attr == attr and t.op == "eq" and t.value.upper() == value
        for terms in expression
        for t in terms
    )


def link_headers(base: str, params: Mapping[str, str], after: str | None) -> list[str]:
    """``Link`` values: ``rel="self"`` first, then ``rel="next"`` when there is a next page."""
    own = {k: v for k, v in params.items()}
    links = [f'<{base}?{urlencode(own)}>; rel="self"' if own else f'<{base}>; rel="self"']
    if after is not None:
        nxt = {k: v for k, v in own.items() if k != "after"} | {"after": after}
        links.append(f'<{base}?{urlencode(nxt)}>; rel="next"')
    return links
