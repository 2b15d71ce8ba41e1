"""Approving or dismissing the removals a guard refused (API and admin pages).

A guarded run leaves its connector *awaiting approval* (:mod:`idpsync.store.approvals`). The
administrator opens ``/connectors/{name}/approval``, re-checks the plan against the IdP and the
directory as they are now (a dry run with the removals allowed), sees the new counts, and then
applies them (a full run with deletes allowed, started at once) or dismisses the approval.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from idpsync.store import approvals
from idpsync.web import queries
from idpsync.web.api import service, start
from idpsync.web.app import Service
from idpsync.web.audit import record
from idpsync.web.auth import Admin, Reader, actor_of
from idpsync.web.errors import PageError
from idpsync.web.pages import ADMINISTER, VIEW, CsrfField, _check_form, _need_admin, _page

router = APIRouter()
CheckField = Annotated[str, Form()]


def pending(svc: Service, name: str) -> dict[str, Any] | None:
    """The connector's pending approval as JSON (``None`` when nothing awaits approval)."""
    row = approvals.pending(svc.store, name)
    return queries.jsonable(row) if row is not None else None


def busy_message(name: str) -> str:
    """The error for a connector that is running now."""
    return f"a run of {name} is in progress; try again when it has finished"


def _known(svc: Service, name: str) -> None:
    if name not in svc.loaded.settings.connectors:
        raise PageError(404, f"there is no connector named {name!r} in the configuration")


@router.get("/api/connectors/{name}/approval", tags=["api"])
def approval_json(request: Request, name: str, _who: Reader) -> dict[str, Any]:
    """The connector's pending approval (404 when nothing awaits approval)."""
    found = pending(service(request), name)
    if found is None:
        raise HTTPException(404, f"{name} does not await approval")
    return found


@router.post("/api/connectors/{name}/approval/dismiss", tags=["api"])
async def dismiss_json(request: Request, name: str, _who: Admin) -> dict[str, Any]:
    """Drop the pending approval without removing anyone."""
    svc = service(request)
    if not approvals.dismiss(svc.store, name):
        raise HTTPException(404, f"{name} does not await approval")
    record(request, "dismiss", name)
    await svc.executor.review(name)
    return {"connector": name, "dismissed": True}


@router.get("/connectors/{name}/approval", include_in_schema=False, dependencies=[VIEW])
def approval_page(request: Request, name: str) -> Response:
    """What awaits approval, the re-check's counts, and the buttons to apply or dismiss."""
    if (redirect := _need_admin(request)) is not None:
        return redirect
    svc = service(request)
    _known(svc, name)
    found = pending(svc, name)
    check = None
    if found is not None and found["check_run_id"] is not None:
        row = svc.store.run(int(found["check_run_id"]))
        check = queries.jsonable(row) if row is not None else None
    return _page(
        request,
        "approval.html",
        name=name,
        approval=found,
        check=check,
        busy=svc.executor.busy(name),
    )


@router.post(
    "/connectors/{name}/approval/check", include_in_schema=False, dependencies=[ADMINISTER]
)
async def recheck(request: Request, name: str, csrf: CsrfField = "") -> Response:
    """Plan again now, with the removals allowed, without changing anything."""
    _check_form(request, csrf)
    svc = service(request)
    _known(svc, name)
    back = f"/connectors/{name}/approval"
    if approvals.pending(svc.store, name) is None:
        raise PageError(409, f"{name} does not await approval (any more)", back)
    result = await svc.executor.run(name, dry_run=True, allow_deletes=True, actor=actor_of(request))
    if result is None:
        raise PageError(409, busy_message(name), back)
    if result.status != "dry_run":
        why = f"the re-check did not complete ({result.status}): {result.message}"
        raise PageError(502, why, back)
    approvals.set_check(svc.store, name, result.run_id)
    return RedirectResponse(back, status_code=303)


@router.post(
    "/connectors/{name}/approval/confirm", include_in_schema=False, dependencies=[ADMINISTER]
)
async def confirm(
    request: Request, name: str, csrf: CsrfField = "", check_run: CheckField = ""
) -> Response:
    """Apply the removals the administrator has just seen re-checked."""
    _check_form(request, csrf)
    svc = service(request)
    _known(svc, name)
    back = f"/connectors/{name}/approval"
    found = approvals.pending(svc.store, name)
    if found is None:
        raise PageError(409, f"{name} does not await approval (any more)", back)
    if found["check_run_id"] is None or str(found["check_run_id"]) != check_run:
        raise PageError(409, "re-check the plan first, then apply what the re-check shows", back)
    if svc.executor.busy(name):
        raise PageError(409, busy_message(name), back)
    record(request, "approve", name, detail={"check_run_id": found["check_run_id"]})
    start(svc, name, dry_run=False, allow_deletes=True, incremental=False, actor=actor_of(request))
    return RedirectResponse("/", status_code=303)


@router.post(
    "/connectors/{name}/approval/dismiss", include_in_schema=False, dependencies=[ADMINISTER]
)
async def dismiss_form(request: Request, name: str, csrf: CsrfField = "") -> Response:
    """Dismiss: nobody is removed; the next full run that is refused asks again."""
    _check_form(request, csrf)
    svc = service(request)
    _known(svc, name)
    if approvals.dismiss(svc.store, name):
        record(request, "dismiss", name)
    await svc.executor.review(name)
    return RedirectResponse("/", status_code=303)
