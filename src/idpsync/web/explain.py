"""The Explain page (``/explain?connector=…&q=…``) and its API twin.

The page answers "why is (or isn't) this person synced?" for anyone: a user of the directory
(the Explain button of their page links here with their IdP id) or someone the directory does
not hold (search by IdP id, login, e-mail or display name). It reads the store only and
records no run (:mod:`idpsync.app.explain`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from idpsync.app.explain import explain_person
from idpsync.engine.explain import Explanation
from idpsync.textsafety import printable
from idpsync.web.api import service
from idpsync.web.auth import Reader, admin
from idpsync.web.errors import PageError
from idpsync.web.pages import VIEW, render

router = APIRouter()

MAX_QUERY = 512
"""Longest accepted query (longer ones cannot be a login, e-mail or name)."""

STATE = {True: "ok", False: "failed", None: "neutral"}
"""CSS class suffix of a step by its verdict."""


def _explain(request: Request, connector: str, q: str) -> Explanation:
    svc = service(request)
    return explain_person(svc.loaded, svc.store, connector, q)


def _visible(result: Explanation) -> list[dict[str, Any]]:
    r"""The steps with control, bidi and invisible characters shown as escapes (``\u202e``).

    Jinja escapes markup; this also makes a name that only looks like another one visible.
    """
    return [
        {
            "key": s.key,
            "title": s.title,
            "mark": s.mark,
            "state": STATE[s.ok],
            "verdict": printable(s.verdict),
            "facts": [(label, printable(value)) for label, value in s.facts],
            "lines": [printable(text) for text in s.lines],
        }
        for s in result.steps
    ]


def _summary(result: Explanation) -> str:
    failed = [s for s in result.steps if s.ok is False]
    if not failed:
        return "every step passed: this person is synced (or will be by the next run)"
    return f"not (fully) synced: see step {result.steps.index(failed[0]) + 1} ({failed[0].title})"


@router.get("/explain", response_class=HTMLResponse, include_in_schema=False, dependencies=[VIEW])
async def explain_page(request: Request, connector: str = "", q: str = "") -> Response:
    """Explain one person of one connector; without both, the search form."""
    if admin(request) is None:
        return RedirectResponse("/login?next=/explain", status_code=303)
    svc = service(request)
    names = list(svc.loaded.settings.connectors)
    q = q.strip()[:MAX_QUERY]
    result = None
    if connector and connector not in names:
        raise PageError(
            404, f"there is no connector named {connector!r} in the configuration", "/explain"
        )
    if connector and q:
        result = await asyncio.to_thread(_explain, request, connector, q)
    context: dict[str, Any] = {
        "connectors": names,
        "connector": connector or (names[0] if len(names) == 1 else ""),
        "q": q,
        "result": result,
        "summary": _summary(result) if result is not None and result.found else "",
        "steps": _visible(result) if result is not None else [],
        "near": [(printable(label), sid) for label, sid in result.near] if result else [],
    }
    return render(request, "explain.html", **context)


@router.get("/api/connectors/{name}/explain", tags=["directory"])
async def explain_api(request: Request, name: str, q: str, _who: Reader) -> dict[str, Any]:
    """Why a person (IdP id, login, e-mail or display name) is or is not synced, step by step.

    Reads the staged mirror and the store only; records no run. ``found`` is false (with
    ``near_matches``) when nobody matched.
    """
    if name not in service(request).loaded.settings.connectors:
        raise HTTPException(404, f"no connector named {name!r}")
    result = await asyncio.to_thread(_explain, request, name, q.strip()[:MAX_QUERY])
    return result.as_json()
