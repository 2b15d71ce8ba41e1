"""The run browser: one run's page (``/runs/{id}``), its exports, and the same in the API.

The page shows a run a page at a time (:data:`PAGE_SIZE` entries), searched by person or group
and filtered by operation and outcome; each change shows only the fields it changes. The
exports (``/runs/{id}/export.csv`` and ``.json``) stream every entry matching the same filters.
All reads go through :mod:`idpsync.store.run_query`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from idpsync.engine import report
from idpsync.store import approvals, run_export, run_query
from idpsync.store.run_query import RunFilter
from idpsync.web.api import service
from idpsync.web.auth import Reader, admin
from idpsync.web.errors import PageError
from idpsync.web.pages import VIEW, render
from idpsync.web.paging import MAX_OFFSET, page_offset

router = APIRouter(include_in_schema=False)
api_router = APIRouter(prefix="/api", tags=["api"])

PAGE_SIZE = 50
"""Entries per page of the run page."""

FOLD_AT = 80
"""Values longer than this (or with a line break) are folded behind a ``<details>``."""

SearchText = Annotated[str, Query(max_length=200)]
Ops = Annotated[list[str] | None, Query(max_length=20)]
Outcome = Annotated[str, Query(max_length=20)]


def _run_row(request: Request, run_id: int) -> dict[str, Any] | None:
    return service(request).store.run(run_id) if 0 < run_id < 2**62 else None


def _filter(q: str, op: list[str] | None, outcome: str) -> RunFilter:
    try:
        return RunFilter.of(q, op, outcome)
    except ValueError as exc:
        raise PageError(400, str(exc)) from None


def _link(run_id: int, filt: RunFilter, **extra: Any) -> str:
    """The run page's address with ``filt`` (and ``extra`` parameters) as its query."""
    params: list[tuple[str, Any]] = []
    if filt.q:
        params.append(("q", filt.q))
    params += [("op", o) for o in filt.ops]
    if filt.outcome != "changed":
        params.append(("outcome", filt.outcome))
    params += [(k, v) for k, v in extra.items() if v]
    return f"/runs/{run_id}" + (f"?{urlencode(params)}" if params else "")


def _shown_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """An entry as the template draws it: the changed fields, long values marked for folding."""
    fields = [
        {
            "name": name,
            "before": old,
            "after": new,
            "fold_before": len(old) > FOLD_AT or "\n" in old,
            "fold_after": len(new) > FOLD_AT or "\n" in new,
        }
        for name, old, new in run_query.changed_fields(entry)
    ]
    return {**entry, "fields": fields, "css": (entry["op"] or entry["outcome"]).replace(".", "-")}


@router.get("/runs/{run_id}", response_class=HTMLResponse, dependencies=[VIEW])
def run_page(
    request: Request,
    run_id: int,
    q: SearchText = "",
    op: Ops = None,
    outcome: Outcome = "changed",
    offset: int = 0,
) -> Response:
    """One run: its changes a page at a time, searchable, filtered, with field-level diffs."""
    if admin(request) is None:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    row = _run_row(request, run_id)
    if row is None:
        raise PageError(404, f"there is no run {run_id}", "/runs")
    filt = _filter(q, op, outcome)
    offset = page_offset(offset)
    store = service(request).store
    found = run_query.page(store, row, filt, PAGE_SIZE, offset)
    last = max(0, (found.total - 1) // PAGE_SIZE * PAGE_SIZE)
    pages = {
        "first": _link(run_id, filt) if offset > 0 else None,
        "previous": _link(run_id, filt, offset=max(0, offset - PAGE_SIZE)) if offset > 0 else None,
        "next": _link(run_id, filt, offset=offset + PAGE_SIZE)
        if offset + PAGE_SIZE < found.total and offset + PAGE_SIZE <= MAX_OFFSET
        else None,
        "last": _link(run_id, filt, offset=last) if offset < last else None,
    }
    context: dict[str, Any] = {
        "run": report.run_facts(row),
        "stored": row.get("report") or {},
        "approval": approvals.pending(store, str(row["connector"])),
        "filt": filt,
        "found": found,
        "entries": [_shown_entry(e) for e in found.entries],
        "offset": offset,
        "page_size": PAGE_SIZE,
        "pages": pages,
        "all_ops": run_query.OPS,
        "outcomes": run_query.OUTCOMES,
        "clear": _link(run_id, RunFilter("", (), filt.outcome)),
        "tab": {o: _link(run_id, RunFilter(filt.q, (), o)) for o in run_query.OUTCOMES},
        "export": {
            kind: _link(run_id, filt).replace(f"/runs/{run_id}", f"/runs/{run_id}/export.{kind}")
            for kind in ("csv", "json")
        },
    }
    return render(request, "run.html", **context)


def _export(row: dict[str, Any], request: Request, filt: RunFilter, kind: str) -> Response:
    entries = run_query.stream(service(request).store, row, filt)
    name = f"run-{row['id']}.{kind}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if kind == "csv":
        return StreamingResponse(
            run_export.chunked(run_export.csv_lines(int(row["id"]), entries)),
            media_type="text/csv; charset=utf-8",
            headers=headers,
        )
    return StreamingResponse(
        run_export.chunked(run_export.json_chunks(row, entries)),
        media_type="application/json",
        headers=headers,
    )


@router.get("/runs/{run_id}/export.{kind}", dependencies=[VIEW])
def export_page(
    request: Request,
    run_id: int,
    kind: str,
    q: SearchText = "",
    op: Ops = None,
    outcome: Outcome = "changed",
) -> Response:
    """Every entry of the run matching the page's filters, as CSV or JSON (streamed)."""
    if admin(request) is None:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    row = _run_row(request, run_id)
    if row is None or kind not in ("csv", "json"):
        raise PageError(404, f"there is no run {run_id} export {kind!r}", "/runs")
    return _export(row, request, _filter(q, op, outcome), kind)


def _api_run(request: Request, run_id: int, q: str, op: list[str] | None, outcome: str) -> Any:
    row = _run_row(request, run_id)
    if row is None:
        raise HTTPException(404, f"no run {run_id}")
    try:
        return row, RunFilter.of(q, op, outcome)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


@api_router.get("/runs/{run_id}/entries")
def run_entries(
    request: Request,
    run_id: int,
    _who: Reader,
    q: SearchText = "",
    op: Ops = None,
    outcome: Outcome = "changed",
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    """A page of a run's entries: search (``q``), operations (``op``, repeatable), outcome.

    Outcomes: ``changed`` (applied, or planned by a dry or guarded run), ``skipped``,
    ``collided``, ``out_of_scope``, ``dropped``, ``waiting``, ``kept_inactive``. The answer
    carries ``total`` (all pages) and the counts per operation and outcome for the search.
    """
    row, filt = _api_run(request, run_id, q, op, outcome)
    found = run_query.page(service(request).store, row, filt, limit, offset)
    return {
        "run": json.loads(json.dumps(report.run_facts(row), default=str)),
        "total": found.total,
        "ops": found.ops,
        "outcomes": found.outcomes,
        "entries": found.entries,
    }


@api_router.get("/runs/{run_id}/export.{kind}")
def api_run_export(
    request: Request,
    run_id: int,
    kind: str,
    _who: Reader,
    q: SearchText = "",
    op: Ops = None,
    outcome: Outcome = "changed",
) -> Response:
    """Every matching entry of a run, streamed as CSV (``export.csv``) or JSON (``export.json``)."""
    row, filt = _api_run(request, run_id, q, op, outcome)
    if kind not in ("csv", "json"):
        raise HTTPException(404, f"no export {kind!r}; use export.csv or export.json")
    return _export(row, request, filt, kind)
