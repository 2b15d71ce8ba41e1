"""The Google emulator's batch and Reports API routes (see :mod:`.batch`, :mod:`.activity`)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from idpsync.emulators.framework import RecordedRequest, Reply
from idpsync.emulators.google import api
from idpsync.emulators.google.activity import ReportsError, list_activities
from idpsync.emulators.google.batch import BatchError, InnerReply, InnerRequest, answer, parse

if TYPE_CHECKING:
    from idpsync.emulators.google.emulator import GoogleEmulator

REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
           404: "Not Found", 412: "Precondition Failed", 429: "Too Many Requests"}  # fmt: skip


async def batch(emu: GoogleEmulator, request: Request) -> Response:
    """``POST /batch…``: each inner call answered and charged on its own (one round trip)."""
    outer = request.headers.get("authorization")
    try:
        calls = parse(request.headers.get("content-type", ""), await request.body())
    except BatchError as exc:
        reply = emu.error_reply(400, "invalid", str(exc))
        return Response(reply.body, reply.status, dict(reply.headers))

    def one(call: InnerRequest) -> InnerReply:
        reply = inner(emu, call, call.headers.get("authorization") or outer)
        emu.batched.add(RecordedRequest(call.method, call.path, call.query, reply.status, 1.0))
        return InnerReply(
            reply.status, REASONS.get(reply.status, "Error"), reply.body, reply.headers
        )

    content_type, body = answer(calls, one)
    return Response(body, 200, {"content-type": content_type})


def inner(emu: GoogleEmulator, call: InnerRequest, authorization: str | None) -> Reply:
    """One inner call: charged to the quota (or a storm), then answered like a plain GET.

    An injected fault for the call's path acts on its part as on a plain request: a
    ``status`` or ``expired_token`` answers that part, ``repeat_page``/``empty_page`` rewrite
    its page, ``truncate`` and ``reset`` cut its body in half (a part cannot reset alone).
    """
    if call.method != "GET":
        return emu.error_reply(400, "invalid", "Only GET calls are served in a batch here.")
    fault = emu.faults.pick(call.method, call.path)
    if fault is not None and fault.kind == "status":
        return emu.error_reply(fault.status, "serviceNotAvailable", "Injected failure.")
    if fault is not None and fault.kind == "expired_token":
        return emu.expired_token_reply()
    headers = {"authorization": authorization or ""}
    charge = emu.charge(call.method, call.path, call.query, headers)
    if charge is not None and charge.retry_after:
        return emu.throttled_reply(charge)
    params = dict(parse_qsl(call.query, keep_blank_values=True))
    reply = emu.answer(call.path, params, authorization)
    if fault is None or reply.status != 200:
        return reply
    if fault.kind in ("truncate", "reset"):
        return Reply(reply.status, reply.body[: len(reply.body) // 2], reply.headers)
    if fault.kind in ("repeat_page", "empty_page"):
        url = f"{call.path}?{call.query}"
        page = emu.rewrite_page(json.loads(reply.body), url, fault.kind)
        return Reply(200, json.dumps(page).encode(), reply.headers)
    return reply


async def reports(emu: GoogleEmulator, request: Request) -> Response:
    """``GET /admin/reports/v1/activity/users/all/applications/admin`` (scope: audit read)."""
    try:
        emu.authorize(request.headers.get("authorization"), "reports")
        body = list_activities(
            emu.tenant.activity, emu.tenant.customer_id, dict(request.query_params)
        )
    except (api.ApiError, ReportsError) as exc:
        reply = emu.error_reply(exc.status, exc.reason, exc.message)
        return Response(reply.body, reply.status, dict(reply.headers))
    return JSONResponse(body)
