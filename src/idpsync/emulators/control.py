"""Test-only HTTP routes under ``/_emulator/`` shared by every emulator.

They mirror the Python control API for out-of-process use (``idpsync emulate …``):

* ``GET  /_emulator/requests`` → the request log as JSON (``?clear=1`` empties it after);
* ``POST /_emulator/faults`` with a JSON :class:`~idpsync.emulators.injection.Fault` spec;
  ``DELETE /_emulator/faults`` clears the plan;
* ``POST /_emulator/tenant/{operation}`` with JSON keyword arguments, for the operations in
  :data:`OPERATIONS` (e.g. ``rename_group`` with ``{"group_id": …, "name": …}``);
* ``GET  /_emulator/ground-truth`` → counts of users, groups and memberships.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from idpsync.emulators.injection import Fault
from idpsync.emulators.tenant import TenantError, TenantGroup, TenantUser

if TYPE_CHECKING:
    from idpsync.emulators.framework import Emulator

OPERATIONS = frozenset(
    {
        "update_user",
        "delete_user",
        "set_manager",
        "set_photo",
        "rename_group",
        "delete_group",
        "add_member",
        "remove_member",
        "move_member",
    }
)


def control_routes(emulator: Emulator) -> list[Route]:
    """The ``/_emulator/…`` routes bound to one emulator."""

    async def requests(request: Request) -> Response:
        entries = [asdict(e) for e in emulator.requests.entries()]
        if request.query_params.get("clear"):
            emulator.requests.clear()
        return JSONResponse(entries)

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            emulator.faults.clear()
            return Response(status_code=204)
        try:
            fault = emulator.inject(Fault(**(await request.json())))
        except (TypeError, ValueError) as exc:
            return JSONResponse({"error": f"bad fault spec: {exc}"}, status_code=400)
        return JSONResponse({"kind": fault.kind, "path": fault.path, "nth": fault.nth})

    async def tenant(request: Request) -> Response:
        operation = request.path_params["operation"]
        args: dict[str, Any] = await request.json()
        try:
            if operation == "add_user":
                result: Any = emulator.tenant.add_user(TenantUser(**args))
            elif operation == "add_group":
                result = emulator.tenant.add_group(TenantGroup(**args))
            elif operation in OPERATIONS:
                result = getattr(emulator.tenant, operation)(**args)
            else:
                return JSONResponse({"error": f"unknown operation {operation!r}"}, 404)
        except (TenantError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"ok": True, "id": getattr(result, "id", None)})

    async def truth(request: Request) -> Response:
        t = emulator.tenant
        edges = sum(len(g.members) for g in t.groups.values())
        body = {"users": len(t.users), "groups": len(t.groups), "memberships": edges}
        return JSONResponse(body)

    return [
        Route("/_emulator/requests", requests, methods=["GET"]),
        Route("/_emulator/faults", faults, methods=["POST", "DELETE"]),
        Route("/_emulator/tenant/{operation}", tenant, methods=["POST"]),
        Route("/_emulator/ground-truth", truth, methods=["GET"]),
    ]
