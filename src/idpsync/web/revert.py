"""The run page's revert button: undo an applied run (:mod:`idpsync.app.reverting`).

``POST /runs/{id}/revert`` (admin session and CSRF token) previews (``dry_run``) or applies the
revert of the run as a new run of its connector and opens that run's page: its changes, its
conflicts (objects changed since, left as they are) as warnings, or the guard's refusal.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from idpsync.app.reverting import NotRevertible, revert_run
from idpsync.web.api import service
from idpsync.web.errors import PageError
from idpsync.web.pages import ADMINISTER, CsrfField, _check_form

router = APIRouter(include_in_schema=False)


@router.post("/runs/{run_id}/revert", dependencies=[ADMINISTER])
async def revert_form(
    request: Request,
    run_id: int,
    csrf: CsrfField = "",
    dry_run: Annotated[bool, Form()] = False,
    allow_deletes: Annotated[bool, Form()] = False,
) -> Response:
    """Preview or apply the revert of a run, then show the new run."""
    _check_form(request, csrf)
    svc = service(request)
    row = svc.store.run(run_id) if 0 < run_id < 2**62 else None
    if row is None:
        raise PageError(404, f"there is no run {run_id}", "/runs")
    name = str(row["connector"])
    settings = svc.loaded.settings.connectors.get(name)
    if settings is None:
        raise PageError(404, f"there is no connector named {name!r} in the configuration")
    if svc.executor.busy(name):
        raise PageError(409, f"a run of {name} is in progress; try again when it has finished")
    try:
        result = await asyncio.to_thread(
            revert_run, svc.store, run_id, settings, dry_run=dry_run, allow_deletes=allow_deletes
        )
    except NotRevertible as exc:
        raise PageError(409, f"cannot revert: {exc}", f"/runs/{run_id}") from None
    return RedirectResponse(f"/runs/{result.run_id}", status_code=303)
