"""A :class:`~idpsync.app.compare.Comparison` as plain data: JSON for scripts, CSV to share.

The command line (``idpsync connectors compare --json`` / ``--format csv``) and the admin page
(``/connectors/OLD/compare/NEW/export.csv``) both use these, so the exports are the same.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import Any

from idpsync.app.compare import Comparison, Match
from idpsync.store.run_export import csv_cell

CSV_COLUMNS = (
    "category",
    "key",
    "value",
    "old_user_id",
    "old_source_id",
    "old_login",
    "old_email",
    "new_source_id",
    "new_login",
    "new_email",
    "detail",
)
"""The CSV export's columns: one line per matched pair, per unmatched person on either side,
and per candidate of an ambiguity (``value``: the key value they share); ``detail`` lists a match's
differences (``field: old → new`` separated by ``; ``) or says which way an ambiguity goes."""


def old_person(comparison: Comparison, user_id: int) -> dict[str, Any]:
    """An old directory user as JSON (id, source id, login, e-mail, display name, active)."""
    u = comparison.old_users[user_id]
    return {
        "id": u.id,
        "source_id": u.source_id,
        "login": u.login,
        "email": u.email,
        "display_name": u.display_name,
        "active": u.active,
    }


def new_person(comparison: Comparison, source_id: str) -> dict[str, Any]:
    """A new connector's staged user as JSON (source id, login, e-mail, display name, active)."""
    u = comparison.new_users[source_id]
    return {
        "source_id": u.source_id,
        "login": u.login,
        "email": u.email,
        "display_name": u.display_name,
        "active": u.active,
    }


def match_json(comparison: Comparison, match: Match) -> dict[str, Any]:
    """One matched pair as JSON, with the key that matched and the differences."""
    return {
        "key": match.key,
        "old": old_person(comparison, match.old_user_id),
        "new": new_person(comparison, match.new_source_id),
        "differences": [{"field": d.field, "old": d.old, "new": d.new} for d in match.differences],
    }


def as_json(comparison: Comparison) -> dict[str, Any]:
    """The whole comparison as JSON: counts, then every category with both sides' people."""
    return {
        "old": comparison.old,
        "new": comparison.new,
        "keys": list(comparison.keys),
        "counts": comparison.counts(),
        "matched": [match_json(comparison, m) for m in comparison.matched],
        "only_old": [old_person(comparison, i) for i in comparison.only_old],
        "only_new": [new_person(comparison, s) for s in comparison.only_new],
        "ambiguous": [
            {
                "key": a.key,
                "value": a.value,
                "kind": a.kind,
                "old": [old_person(comparison, i) for i in a.old_user_ids],
                "new": [new_person(comparison, s) for s in a.new_source_ids],
            }
            for a in comparison.ambiguous
        ],
    }


def _shown(value: object) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "active" if value else "inactive"
    return str(value)


def differences_text(match: Match) -> str:
    """``field: old → new`` for each difference, separated by ``; ``."""
    return "; ".join(f"{d.field}: {_shown(d.old)} → {_shown(d.new)}" for d in match.differences)


def csv_rows(comparison: Comparison) -> Iterator[list[str]]:
    """The CSV lines' values (without the header), in the order of :data:`CSV_COLUMNS`."""

    def old(i: int) -> list[str]:
        u = comparison.old_users[i]
        return [str(u.id), u.source_id, u.login, u.email or ""]

    def new(s: str) -> list[str]:
        u = comparison.new_users[s]
        return [u.source_id, u.login, u.email or ""]

    blank_old, blank_new = ["", "", "", ""], ["", "", ""]
    for m in comparison.matched:
        pair = [*old(m.old_user_id), *new(m.new_source_id)]
        yield ["matched", m.key, "", *pair, differences_text(m)]
    for i in comparison.only_old:
        yield ["only_old", "", "", *old(i), *blank_new, ""]
    for s in comparison.only_new:
        yield ["only_new", "", "", *blank_old, *new(s), ""]
    for a in comparison.ambiguous:
        for i in a.old_user_ids:
            yield ["ambiguous", a.key, a.value, *old(i), *blank_new, a.kind]
        for s in a.new_source_ids:
            yield ["ambiguous", a.key, a.value, *blank_old, *new(s), a.kind]


def csv_lines(comparison: Comparison, clean: Callable[[str], str] = str) -> Iterator[str]:
    """The CSV export, a header and one line per row; ``clean`` rewrites each value."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    for values in csv_rows(comparison):
        writer.writerow([csv_cell(clean(v)) for v in values])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
