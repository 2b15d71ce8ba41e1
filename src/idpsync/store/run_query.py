"""Reading one run a page at a time, searched by person or group, filtered by op and outcome.

A run's entries are its changes (or planned changes) and the objects it left out. The run
page (``/runs/{id}``), its exports, the API and ``idpsync runs show`` all read through
:func:`page` and :func:`stream`, so they filter alike. A run that applied its plan is read from
the change log (``changes``); a dry or guarded run from ``run_objects`` (outcome ``planned``);
the objects left out from ``run_objects`` too. Runs recorded before ``run_objects`` existed
keep everything in ``runs.report``: they are filtered in memory, with the same results.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from idpsync.engine import report
from idpsync.engine.plan import OpKind
from idpsync.store import schema as t
from idpsync.store.store import Store

OPS = tuple(kind.value for kind in OpKind)
"""Every operation a run can make (``user.create`` … ``member.remove``)."""

LEFT_OUT = (
    "skipped",
    "collided",
    "out_of_scope",
    "dropped",
    "waiting",
    "kept_inactive",
    "photo_refused",
    "photo_failed",
)
"""Outcomes of objects a run did not sync (see :func:`idpsync.engine.report.left_out`), and
users whose photo a run refused or could not download (:mod:`idpsync.app.photo_round`)."""

OUTCOMES = ("changed", *LEFT_OUT)
"""``changed``: applied, or for a dry or guarded run planned; then the left-out outcomes."""

PLANNING = ("dry_run", "guarded")
"""Run statuses whose changes were planned only (kept in ``run_objects``)."""

BATCH = 1000
"""Rows per query of :func:`stream`."""


@dataclass(frozen=True, slots=True)
class RunFilter:
    """What to show of a run: a search text, operations, and one outcome."""

    q: str = ""
    """A login, e-mail, name, group name or IdP id (a part of it, case-insensitive)."""
    ops: tuple[str, ...] = ()
    """Only these operations (empty: all); only for the ``changed`` outcome."""
    outcome: str = "changed"
    """One of :data:`OUTCOMES`."""

    @classmethod
    def of(cls, q: str | None, ops: list[str] | None, outcome: str | None) -> RunFilter:
        """A filter from request or command-line values; unknown values are refused."""
        chosen = tuple(o for o in ops or () if o)
        bad = [o for o in chosen if o not in OPS]
        if bad:
            raise ValueError(f"unknown operation {bad[0]!r}; one of: {', '.join(OPS)}")
        if outcome and outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}; one of: {', '.join(OUTCOMES)}")
        return cls((q or "").strip()[:200], chosen, outcome or "changed")


@dataclass
class RunPage:
    """One page of a run's entries, with the counts the filters show."""

    entries: list[dict[str, Any]]
    """The entries: ``seq, outcome, op, object_type, source_id, key, reason, before, after``."""
    total: int
    """How many entries match the filter (all pages)."""
    ops: dict[str, int] = field(default_factory=dict)
    """Matching ``changed`` entries per operation (the search applied, not the op filter)."""
    outcomes: dict[str, int] = field(default_factory=dict)
    """Matching entries per outcome (the search applied)."""


def _like(text: str) -> str:
    escaped = text.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _contains(column: Any, pattern: str) -> Any:
    return sa.func.lower(column).like(pattern, escape="\\")


def _search(table: sa.Table, q: str, connector: str) -> Any:
    """Rows about a person or group matching ``q`` (directory users and groups included)."""
    c, u, g = table.c, t.users.c, t.groups.c
    pattern = _like(q)
    people = sa.select(u.source_id).where(
        u.connector == connector,
        sa.or_(*(_contains(col, pattern) for col in (u.login, u.email, u.display_name))),
    )
    groups = sa.select(g.source_id).where(g.connector == connector, _contains(g.name, pattern))
    found = [
        _contains(c.object_key, pattern),
        c.source_id == q,
        sa.and_(c.object_type != "member", c.source_id.in_(people)),
        c.source_id.in_(groups),
    ]
    if table is t.changes or table is t.run_objects:
        for side in (c.after, c.before):
            found += [
                _contains(side[name].as_string(), pattern) for name in ("email", "display_name")
            ]
            member = side["member"].as_string()
            found.append(sa.and_(c.object_type == "member", member.in_(people)))
    return sa.or_(*found)


def _source(row: Mapping[str, Any], outcome: str) -> tuple[sa.Table, list[Any]]:
    """The table and conditions that hold the run's entries of ``outcome``."""
    run_id = row["id"]
    if outcome == "changed" and row["status"] not in PLANNING:
        return t.changes, [t.changes.c.run_id == run_id]
    wanted = "planned" if outcome == "changed" else outcome
    c = t.run_objects.c
    return t.run_objects, [c.run_id == run_id, c.outcome == wanted]


def _legacy(row: Mapping[str, Any], conn: Connection, outcome: str) -> bool:
    """Whether the run keeps its ``outcome`` entries in ``runs.report`` (older runs)."""
    stored = row.get("report") or {}
    if outcome == "changed":
        return "planned" in stored
    has = conn.execute(
        sa.select(t.run_objects.c.id)
        .where(t.run_objects.c.run_id == row["id"], t.run_objects.c.outcome != "planned")
        .limit(1)
    ).first()
    return has is None


def _entry(r: Any, outcome: str, table: sa.Table) -> dict[str, Any]:
    m = r._mapping
    kind = "planned" if table is t.run_objects and m["outcome"] == "planned" else outcome
    return {
        "seq": m["seq"] if table is t.changes else m["id"],
        "outcome": kind,
        "op": m["op"],
        "object_type": m["object_type"],
        "source_id": m["source_id"],
        "key": m["object_key"],
        "reason": m["reason"] or "",
        "before": m["before"],
        "after": m["after"],
    }


def _where(row: Mapping[str, Any], filt: RunFilter, table: sa.Table, base: list[Any]) -> list[Any]:
    conds = list(base)
    if filt.q:
        conds.append(_search(table, filt.q, str(row["connector"])))
    if filt.ops and filt.outcome == "changed":
        conds.append(table.c.op.in_(filt.ops))
    return conds


def page(store: Store, row: Mapping[str, Any], filt: RunFilter, limit: int, offset: int) -> RunPage:
    """One page of the run ``row`` (a ``runs`` row) under ``filt``, with the filter counts."""
    with store.read() as conn:
        if _legacy(row, conn, filt.outcome):
            chosen = _legacy_entries(row, filt)
            result = RunPage(chosen[offset : offset + limit], len(chosen))
        else:
            table, base = _source(row, filt.outcome)
            key = table.c.seq if table is t.changes else table.c.id
            conds = _where(row, filt, table, base)
            query = sa.select(table).where(*conds).order_by(key).limit(limit).offset(offset)
            entries = [_entry(r, filt.outcome, table) for r in conn.execute(query)]
            total = conn.execute(sa.select(sa.func.count()).select_from(table).where(*conds))
            result = RunPage(entries, int(total.scalar_one()))
        result.ops, result.outcomes = _counts(conn, row, filt.q)
    return result


def _counts(
    conn: Connection, row: Mapping[str, Any], q: str
) -> tuple[dict[str, int], dict[str, int]]:
    searched = RunFilter(q)
    ops: dict[str, int] = {}
    if "planned" in (row.get("report") or {}):
        for e in _legacy_entries(row, searched):
            ops[e["op"]] = ops.get(e["op"], 0) + 1
    else:
        table, base = _source(row, "changed")
        query = sa.select(table.c.op, sa.func.count()).where(*_where(row, searched, table, base))
        ops = {str(op): int(n) for op, n in conn.execute(query.group_by(table.c.op))}
    c = t.run_objects.c
    conds = _where(row, searched, t.run_objects, [c.run_id == row["id"], c.outcome != "planned"])
    query = sa.select(c.outcome, sa.func.count()).where(*conds).group_by(c.outcome)
    left = {str(outcome): int(n) for outcome, n in conn.execute(query)}
    if not left and not _has_objects(conn, row):  # a run recorded before run_objects
        for outcome in LEFT_OUT:
            if n := len(_legacy_entries(row, RunFilter(q, (), outcome))):
                left[outcome] = n
    return ops, {"changed": sum(ops.values()), **left}


def _has_objects(conn: Connection, row: Mapping[str, Any]) -> bool:
    return not _legacy(row, conn, "skipped")


def stream(store: Store, row: Mapping[str, Any], filt: RunFilter) -> Iterator[dict[str, Any]]:
    """Every entry of the run under ``filt``, in order, read :data:`BATCH` rows at a time.

    Each batch is its own short read (keyset on the entry's position), so a slow reader of an
    export holds no transaction open.
    """
    with store.read() as conn:
        legacy = _legacy(row, conn, filt.outcome)
    if legacy:
        yield from _legacy_entries(row, filt)
        return
    table, base = _source(row, filt.outcome)
    key = table.c.seq if table is t.changes else table.c.id
    conds = _where(row, filt, table, base)
    last = 0
    while True:
        with store.read() as conn:
            rows = conn.execute(
                sa.select(table).where(*conds, key > last).order_by(key).limit(BATCH)
            ).all()
        for r in rows:
            yield _entry(r, filt.outcome, table)
        if len(rows) < BATCH:
            return
        last = rows[-1].seq if table is t.changes else rows[-1].id


# -- runs recorded before run_objects: everything is in runs.report ------------------------


def _legacy_all(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    stored = row.get("report") or {}
    found: list[dict[str, Any]] = []
    for n, e in enumerate(stored.get("planned") or [], 1):
        found.append({"seq": n, "outcome": "planned", "object_type": e["op"].split(".")[0], **e})
    for outcome in ("skipped", "waiting", "kept_inactive"):
        for n, e in enumerate(stored.get(outcome) or [], 1):
            found.append(
                {
                    "seq": n,
                    "outcome": outcome,
                    "op": None,
                    "object_type": e.get("type", "user"),
                    "source_id": e.get("source_id", ""),
                    "key": e.get("key") or e.get("source_id", ""),
                    "reason": e.get("reason", ""),
                    "before": None,
                    "after": None,
                }
            )
    return found


def _legacy_match(entry: Mapping[str, Any], q: str) -> bool:
    if not q:
        return True
    text = json.dumps([entry["key"], entry["before"], entry["after"]], ensure_ascii=False)
    return q.casefold() in text.casefold() or entry["source_id"] == q


def _legacy_entries(row: Mapping[str, Any], filt: RunFilter) -> list[dict[str, Any]]:
    wanted = "planned" if filt.outcome == "changed" else filt.outcome
    return [
        e
        for e in _legacy_all(row)
        if e["outcome"] == wanted
        and _legacy_match(e, filt.q)
        and (not filt.ops or wanted != "planned" or e["op"] in filt.ops)
    ]


# -- field-level differences ----------------------------------------------------------------


def shown(value: Any) -> str:
    """A value as a person reads it: text as it is (real Unicode), anything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def changed_fields(entry: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """``(field, before, after)`` for each field the entry changes, as text.

    A creation lists the fields it sets, a removal those it clears; a membership change has
    no fields (its key names the group and member).
    """
    if entry["object_type"] == "member":
        return []
    before = entry.get("before") or {}
    after = entry.get("after") or {}
    if not isinstance(before, dict) or not isinstance(after, dict):
        return [("value", shown(before), shown(after))]
    found = []
    for name in sorted({*before, *after}):
        old, new = before.get(name), after.get(name)
        if old != new and (old not in (None, "", [], {}) or new not in (None, "", [], {})):
            found.append((name, shown(old), shown(new)))
    return found


def full_report(store: Store, row: Mapping[str, Any]) -> dict[str, Any]:
    """The whole report of a run (every change, skipped objects, warnings) as one document.

    The shape of :mod:`idpsync.engine.report`, for ``GET /api/runs/{id}`` and
    ``idpsync runs show RUN --format json``.
    """
    stored = dict(row.get("report") or {})
    stored.pop("planned", None)
    entries = [
        {k: e[k] for k in ("op", "source_id", "key", "reason", "before", "after")}
        for e in stream(store, row, RunFilter())
    ]
    return report.build(report.run_facts(dict(row)), entries, stored)
