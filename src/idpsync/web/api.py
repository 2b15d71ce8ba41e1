"""The REST API (``/api``): runs, directory, connector checks, targets.

Every endpoint depends on :func:`~idpsync.web.auth.require` with the role it needs: reads
``viewer``, syncs, checks and deliveries ``operator``, approvals ``admin``.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from idpsync.app.single import run_sync_user
from idpsync.config import ConfigError
from idpsync.diagnostics import check_source, for_check
from idpsync.engine import report
from idpsync.errors import SourceError
from idpsync.service.executor import supports_incremental
from idpsync.service.scheduler import (
    deliver_once,
    last_good_run,
    next_slot,
    review_target,
    utcnow,
)
from idpsync.sources.registry import build_source
from idpsync.store import approvals, run_query
from idpsync.targets.seats import seat_status
from idpsync.targets.state import TargetState, pending_count
from idpsync.web import queries
from idpsync.web.app import Service
from idpsync.web.audit import record
from idpsync.web.auth import Admin, Operator, Reader

router = APIRouter(prefix="/api", tags=["api"])

Limit = Query(50, ge=1, le=1000)
Offset = Query(0, ge=0, le=10_000_000)


def service(request: Request) -> Service:
    """The app's :class:`Service`."""
    value: Service = request.app.state.service
    return value


def _connector(svc: Service, name: str) -> None:
    try:
        svc.loaded.connector(name)
    except ConfigError:
        raise HTTPException(404, f"no connector named {name!r}") from None


class SyncRequest(BaseModel):
    """Start a sync."""

    mode: Literal["full", "incremental"] = "full"
    """``incremental`` where the source supports it (else a full run)."""
    dry_run: bool = False
    """Plan only; change nothing."""


class UserSyncRequest(BaseModel):
    """Sync one user (an application's login hook)."""

    key: str = Field(min_length=1, max_length=512)
    """The user's login or IdP id."""
    dry_run: bool = False


def connector_status(svc: Service, name: str) -> dict[str, Any]:
    """One connector's row of the dashboard."""
    settings = svc.loaded.connector(name)
    last = queries.runs(svc.store, name, 1, 0)
    good = last_good_run(svc.executor, name)
    upcoming = next_slot(settings, utcnow())
    waiting = approvals.pending(svc.store, name)
    return {
        "name": name,
        "type": settings.source.type,
        "enabled": settings.enabled,
        "shadow_of": settings.shadow_of,
        "schedule": settings.schedule.full,
        "incremental_every": settings.schedule.incremental_every,
        "last_run": last[0] if last else None,
        "last_success_at": good.isoformat() if good else None,
        "next_run_at": upcoming.isoformat() if upcoming else None,
        "progress": svc.executor.state(name).as_json(),
        "approval": queries.jsonable(waiting) if waiting is not None else None,
    }


@router.get("/connectors")
def list_connectors(request: Request, _who: Reader) -> list[dict[str, Any]]:
    """Connectors with their last and next run and current progress."""
    svc = service(request)
    return [connector_status(svc, n) for n in svc.loaded.settings.connectors]


@router.get("/connectors/{name}/progress")
def progress(request: Request, name: str, _who: Reader) -> dict[str, Any]:
    """The connector's running (or last) run, for progress bars."""
    svc = service(request)
    _connector(svc, name)
    return svc.executor.state(name).as_json()


@router.post("/connectors/{name}/sync", status_code=202)
async def start_sync(request: Request, name: str, body: SyncRequest, who: Operator) -> Any:
    """Start a sync in the background; follow it with the progress endpoint."""
    svc = service(request)
    _connector(svc, name)
    if svc.executor.busy(name):
        return JSONResponse({"detail": f"a run of {name} is in progress"}, status_code=409)
    mode = body.mode
    if mode == "incremental" and not _incremental(svc, name):
        mode = "full"  # the source reads everything every time
    record(request, "sync", name, detail={"mode": mode, "dry_run": body.dry_run})
    incremental = mode != "full"
    start(
        svc,
        name,
        dry_run=body.dry_run,
        allow_deletes=False,
        incremental=incremental,
        actor=who.actor,
    )
    return {"connector": name, "started": True, "mode": mode, "dry_run": body.dry_run}


def _incremental(svc: Service, name: str) -> bool:
    try:
        return supports_incremental(build_source(svc.loaded, svc.loaded.connector(name)))
    except SourceError:
        return False


def start(
    svc: Service,
    name: str,
    *,
    dry_run: bool,
    allow_deletes: bool,
    incremental: bool,
    actor: str,
) -> None:
    """Run a sync as a background task of the app's event loop; ``actor`` started it."""
    run = svc.executor.run(
        name, dry_run=dry_run, allow_deletes=allow_deletes, incremental=incremental, actor=actor
    )
    task = asyncio.get_running_loop().create_task(run)
    svc.scheduler._tasks.add(task)
    task.add_done_callback(svc.scheduler._tasks.discard)


@router.post("/connectors/{name}/sync-user")
async def sync_user(
    request: Request, name: str, body: UserSyncRequest, who: Operator
) -> dict[str, Any]:
    """Sync one user now (never removes anyone else); answers when done."""
    svc = service(request)
    _connector(svc, name)
    settings = svc.loaded.connector(name)
    record(request, "sync_user", name, detail={"dry_run": body.dry_run})

    def go() -> dict[str, Any]:
        source = build_source(svc.loaded, settings)

        async def run() -> Any:
            try:
                return await run_sync_user(
                    svc.store,
                    name,
                    settings,
                    source,
                    body.key,
                    dry_run=body.dry_run,
                    actor=who.actor,
                )
            finally:
                await source.aclose()

        result = asyncio.run(run())
        return {
            "run_id": result.run_id,
            "status": result.status,
            "message": result.message or None,
            "summary": result.summary(),
            "changes": [report.op_entry(op) for op in result.plan.shown()],
        }

    try:
        return await asyncio.to_thread(go)
    except SourceError as exc:
        raise HTTPException(502, f"{name}: {exc}") from None


@router.post("/connectors/{name}/check")
async def check(request: Request, name: str, _who: Operator) -> dict[str, Any]:
    """Run the connector's diagnosis (DNS, TCP, proxy, TLS, token, reads)."""
    svc = service(request)
    _connector(svc, name)
    return await asyncio.to_thread(run_check, svc, name)


def run_check(svc: Service, name: str) -> dict[str, Any]:
    """The diagnosis of one connector, as JSON."""
    loaded, settings = for_check(svc.loaded, name)  # one attempt per request
    try:
        source = build_source(loaded, settings)
    except SourceError as exc:
        return {"connector": name, "ok": False, "steps": [], "error": str(exc)}

    async def go() -> list[Any]:
        try:
            return await check_source(source, settings.source.http)
        finally:
            await source.aclose()

    steps = asyncio.run(go())
    return {
        "connector": name,
        "ok": all(s.status != "failed" for s in steps),
        "note": source.network_note(),
        "steps": [s.as_json() for s in steps],
    }


@router.get("/runs")
def list_runs(
    request: Request,
    _who: Reader,
    connector: str | None = Query(None, max_length=64),
    limit: int = Limit,
    offset: int = Offset,
) -> list[dict[str, Any]]:
    """Runs, newest first."""
    return queries.runs(service(request).store, connector, limit, offset)


@router.get("/runs/{run_id}")
def run_detail(request: Request, run_id: int, _who: Reader) -> dict[str, Any]:
    """A run's report: every user, group and membership change with its reason."""
    store = service(request).store
    row = store.run(run_id) if -(2**62) < run_id < 2**62 else None
    if row is None:
        raise HTTPException(404, f"no run {run_id}")
    return run_query.full_report(store, row)


@router.post("/runs/{run_id}/approve", status_code=202)
async def approve(request: Request, run_id: int, who: Admin) -> Any:
    """Approve a guarded run: the connector runs again with the guard's removals allowed.

    Allowed while the run's connector awaits approval (later runs do not take that away); the
    new run plans against the IdP and the directory as they are now. It settles the approval
    when it succeeds.
    """
    svc = service(request)
    row = svc.store.run(run_id) if -(2**62) < run_id < 2**62 else None
    if row is None:
        raise HTTPException(404, f"no run {run_id}")
    name = str(row["connector"])
    if row["status"] != "guarded" or name not in svc.loaded.settings.connectors:
        raise HTTPException(
            409, f"run {run_id} is {row['status']}, not guarded; nothing to approve"
        )
    if approvals.pending(svc.store, name) is None:
        raise HTTPException(409, f"{name} does not await approval (approved or dismissed)")
    if svc.executor.busy(name):
        raise HTTPException(409, f"a run of {name} is in progress")
    record(request, "approve", name, detail={"run_id": run_id})
    start(svc, name, dry_run=False, allow_deletes=True, incremental=False, actor=who.actor)
    return {"connector": name, "approved_run": run_id, "started": True}


@router.get("/users")
def users(
    request: Request,
    _who: Reader,
    q: str | None = Query(None, max_length=256),
    connector: str | None = Query(None, max_length=64),
    limit: int = Limit,
    offset: int = Offset,
) -> list[dict[str, Any]]:
    """Users whose login, e-mail or name contains ``q``."""
    rows = service(request).store.search_users(q, connector, limit, offset)
    return [queries.jsonable(r) for r in rows]


@router.get("/users/{user_id}")
def user(request: Request, user_id: int, _who: Reader) -> dict[str, Any]:
    """A user with source attributes, groups, manager, photo reference and change history."""
    found = queries.user_page(service(request).store, user_id) if 0 < user_id < 2**62 else None
    if found is None:
        raise HTTPException(404, f"no user {user_id}")
    return found


@router.get("/groups")
def groups(
    request: Request,
    _who: Reader,
    q: str | None = Query(None, max_length=256),
    connector: str | None = Query(None, max_length=64),
    limit: int = Limit,
    offset: int = Offset,
) -> list[dict[str, Any]]:
    """Groups whose name contains ``q``."""
    rows = service(request).store.search_groups(q, connector, limit, offset)
    return [queries.jsonable(r) for r in rows]


@router.get("/targets")
def targets(request: Request, _who: Reader) -> list[dict[str, Any]]:
    """Each target's cursor, lag, status, last error, seats used and held queue."""
    svc = service(request)
    out = []
    for name, settings in svc.loaded.settings.targets.items():
        state = TargetState(svc.store, name)
        row = state.row()
        out.append(
            {
                "name": name,
                "status": row["status"],
                "cursor": int(row["cursor"]),
                "lag": pending_count(svc.store, int(row["cursor"]), settings.connectors),
                "failures": int(row["failed_rounds"]),
                "rejected": len(state.failures()),
                "last_error": row["last_error"],
                "last_delivery_at": queries.jsonable(row)["last_delivery_at"],
                **seat_status(svc.store, name, settings),
            }
        )
    return out


@router.post("/targets/{name}/deliver")
async def deliver(request: Request, name: str, _who: Operator) -> dict[str, Any]:
    """Deliver the pending changes to one target now (one round); answers when done."""
    svc = service(request)
    if name not in svc.loaded.settings.targets:
        raise HTTPException(404, f"no target named {name!r}")
    record(request, "deliver", name)
    await asyncio.to_thread(deliver_once, svc.executor, name)
    await review_target(svc.executor, name)
    row = TargetState(svc.store, name).row()
    return {"target": name, "status": row["status"], "cursor": int(row["cursor"])}
