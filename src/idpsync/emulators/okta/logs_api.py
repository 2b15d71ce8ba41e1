"""``GET /api/v1/logs``: the emulated System Log as Okta serves it.

Parameters: ``since`` (default seven days before ``until``), ``until`` (default now), ``filter``
(``eventType eq "…"`` joined by ``or`` / ``and``; ``sw`` and ``co`` too; attributes
``eventType``, ``outcome.result``, ``actor.id``, ``severity``), ``limit`` (0–1000, default 100),
``sortOrder`` (``ASCENDING`` default, or ``DESCENDING``) and the opaque ``after`` cursor.

Two request types, as Okta documents them ("System Log query", developer.okta.com):

* **bounded** (``until`` given): events in ``published`` order (reversed with ``DESCENDING``),
  a ``Link: rel="next"`` only while more events remain;
* **polling** (no ``until`` and ``ASCENDING``): always a ``next`` link, even on an empty page, so
  a client polls until it gets an empty page (clients that stop at "no next link" loop forever
  here, as with Okta). A ``DESCENDING`` request without ``until`` is not a polling one (Okta
  requires ``ASCENDING`` for those); it is answered as bounded by now.

Undocumented by Okta, chosen here: ``since`` is inclusive and ``until`` exclusive, and events of
one millisecond keep the order they were recorded in, ``DESCENDING`` being exactly the reverse
of ``ASCENDING`` (the cursor is a position in that order).
"""

from __future__ import annotations

from itertools import islice
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from idpsync.emulators.okta import query
from idpsync.emulators.okta.syslog import parse_time

if TYPE_CHECKING:
    from idpsync.emulators.okta.emulator import OktaEmulator

LOG_FILTER = frozenset({"eventType", "outcome.result", "actor.id", "severity"})
MAX_LIMIT, DEFAULT_LIMIT = 1000, 100
WEEK = 7 * 86400


class BadLogQuery(ValueError):
    """A parameter Okta would refuse with 400 ``E0000001``."""


def _time(params: Any, name: str) -> float | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        return parse_time(raw)
    except ValueError:
        raise BadLogQuery(f"{name}: {raw!r} is not an ISO 8601 timestamp") from None


def _limit(params: Any) -> int:
    raw = params.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isdigit():
        raise BadLogQuery(f"limit: {raw!r} is not a number between 0 and 1000")
    return min(int(raw), MAX_LIMIT)


def list_logs(emu: OktaEmulator, request: Request) -> Response:
    """``GET /api/v1/logs`` (see module docstring)."""
    params = request.query_params
    until = _time(params, "until")
    order = params.get("sortOrder", "ASCENDING").upper()
    if order not in ("ASCENDING", "DESCENDING"):
        raise BadLogQuery(f"sortOrder: {order!r} is not ASCENDING or DESCENDING")
    descending = order == "DESCENDING"
    polling = until is None and not descending
    end = emu.clock() + 1 if until is None else until
    since = _time(params, "since")
    start = end - WEEK if since is None else since
    if start > end:
        raise BadLogQuery("since must not be after until")
    limit = _limit(params)
    keep = None
    if params.get("filter"):
        keep = query.matcher(query.parse(params["filter"], LOG_FILTER, search=True))
    after = params.get("after", "")
    mark = int(after) if after.lstrip("-").isdigit() else None
    events = emu.syslog.walk(start, end, mark, descending)
    if keep is not None:
        events = ((i, e) for i, e in events if keep(_flat(e.body)))
    page = list(islice(events, limit + 1))  # one more than the page: is there a next one?
    more = len(page) > limit
    page = page[:limit]
    cursor = str(page[-1][0]) if page else (after or None)
    if cursor is None:
        cursor = str(-1 if not descending else len(emu.syslog.events))
    links = query.link_headers(_url(request), dict(params), cursor if more or polling else None)
    response = JSONResponse([e.body for _, e in page])
    for link in links:
        response.raw_headers.append((b"link", link.encode("latin-1")))
    return response


def _flat(body: dict[str, Any]) -> dict[str, str | None]:
    return {
        "eventType": body["eventType"],
        "outcome.result": body["outcome"]["result"],
        "actor.id": body["actor"]["id"],
        "severity": body["severity"],
    }


def _url(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}{request.url.path}"


def error(exc: BadLogQuery) -> Response:
    """Okta's 400 answer for a bad parameter."""
    from idpsync.emulators.okta.render import error_body

    return JSONResponse(error_body("E0000001", f"Api validation failed: {exc}"), 400)
