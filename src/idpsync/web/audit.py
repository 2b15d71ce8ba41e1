"""Writing the audit trail from requests, and the ``/audit`` page and API (browse, export).

:func:`record` is what the routes call: it names the actor from the request (the signed-in
user or the API token) unless told, and adds the client's address. The trail itself is
:mod:`idpsync.store.audit` (append-only).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from idpsync.store import audit as trail
from idpsync.web.auth import Viewer, actor_of, require
from idpsync.web.roles import Role

router = APIRouter()
log = logging.getLogger("idpsync.web")

TOKEN_USE_EVERY = timedelta(hours=1)
"""A token's use is written at most once per this long (per token)."""
FIELDS = ("id", "at", "actor", "action", "subject", "address", "detail")


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


def record(
    request: Request,
    action: str,
    subject: str | None = None,
    *,
    actor: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Write one row of the trail for this request (the caller's actor unless ``actor``)."""
    store = request.app.state.service.store
    now: datetime = request.app.state.service.scheduler.clock()
    who = actor or actor_of(request)
    trail.append(store, who, action, subject, address=_address(request), detail=detail, at=now)


def token_used(request: Request, actor: str) -> None:
    """Write a token's use, unless it was written less than an hour ago."""
    svc = request.app.state.service
    now: datetime = svc.scheduler.clock()
    seen: dict[str, datetime] = request.app.state.__dict__.setdefault("_token_uses", {})
    last = seen.get(actor)
    if last is None:
        last = trail.last_at(svc.store, actor, "token_use")
    if last is not None and now - last < TOKEN_USE_EVERY:
        seen[actor] = last
        return
    seen[actor] = now
    store, address = svc.store, _address(request)
    path, method = request.url.path, request.method

    def write() -> None:
        trail.append(
            store, actor, "token_use", path, address=address, detail={"method": method}, at=now
        )

    _in_background(request, write)


def _in_background(request: Request, write: Callable[[], None]) -> None:
    """Write off the request: a read answers even while another process holds the write lock."""
    writers: list[threading.Thread] = request.app.state.__dict__.setdefault("_audit_writers", [])
    writers[:] = [w for w in writers if w.is_alive()]
    writer = threading.Thread(target=_quietly, args=(write,), name="audit-writer", daemon=True)
    writers.append(writer)
    writer.start()


def _quietly(write: Callable[[], None]) -> None:
    try:
        write()
    except Exception as exc:  # a busy or broken store: the request was answered regardless
        log.warning("cannot write a token's use to the audit trail: %s", type(exc).__name__)


def settle(app: Any, timeout: float = 30.0) -> None:
    """Wait until the token uses being written are in the store (tests; before shutdown)."""
    for writer in list(app.state.__dict__.get("_audit_writers", [])):
        writer.join(timeout)


def _filter(
    actor: str | None, action: str | None, limit: int = 50, offset: int = 0
) -> trail.Filter:
    return trail.Filter(actor or None, action or None, limit, offset)


@router.get("/api/audit", tags=["api"])
def audit_json(
    request: Request,
    _who: Viewer,
    actor: str | None = Query(None, max_length=320),
    action: str | None = Query(None, max_length=32),
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=10_000_000),
) -> list[dict[str, Any]]:
    """The audit trail, newest first (filters: exact actor, exact action)."""
    store = request.app.state.service.store
    return trail.entries(store, _filter(actor, action, limit, offset))


def csv_lines(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    """The rows as CSV text (a header line first; ``detail`` as JSON); cells are never formulas."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(FIELDS)
    for row in rows:
        cells = [row[f] if f != "detail" else json.dumps(row[f], sort_keys=True) for f in FIELDS]
        writer.writerow([_cell(c) for c in cells])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    # a spreadsheet would run a cell that starts like a formula
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def json_lines(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    """The rows as one JSON array, a row per line."""
    yield "["
    for n, row in enumerate(rows):
        yield ("," if n else "") + "\n" + json.dumps(row, sort_keys=True)
    yield "\n]\n"


@router.get("/api/audit/export", tags=["api"], response_class=Response)
def audit_export(
    request: Request,
    _who: Viewer,
    format: str = Query("json", pattern="^(json|csv)$"),
    actor: str | None = Query(None, max_length=320),
    action: str | None = Query(None, max_length=32),
) -> Response:
    """Every matching row, oldest first, as a JSON array or CSV (a download)."""
    store = request.app.state.service.store
    rows = trail.export_rows(store, _filter(actor, action))
    if format == "csv":
        body, media = csv_lines(rows), "text/csv; charset=utf-8"
    else:
        body, media = json_lines(rows), "application/json"
    headers = {"Content-Disposition": f'attachment; filename="idpsync-audit.{format}"'}
    return StreamingResponse(body, media_type=media, headers=headers)


@router.get("/audit", include_in_schema=False, dependencies=[require(Role.VIEWER)])
def audit_page(
    request: Request,
    actor: str = Query("", max_length=320),
    action: str = Query("", max_length=32),
    offset: int = Query(0, ge=0, le=10_000_000),
) -> Response:
    """The audit trail page: 50 rows a page, newest first, filters by actor and action."""
    from idpsync.web.pages import _page

    store = request.app.state.service.store
    rows = trail.entries(store, _filter(actor, action, 51, offset))
    return _page(
        request,
        "audit.html",
        rows=rows[:50],
        more=len(rows) > 50,
        actor=actor,
        action=action,
        offset=offset,
        actors=trail.actors(store),
        actions=trail.ACTIONS,
    )
