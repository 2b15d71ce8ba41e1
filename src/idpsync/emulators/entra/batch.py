"""Graph's JSON batching: ``POST /v1.0/$batch`` (and ``/beta/$batch``).

The body is ``{"requests": [{"id", "method", "url", "headers"?, "body"?, "dependsOn"?}, …]}``
with at most :data:`MAX_REQUESTS` requests, each ``url`` relative to the version root
(``/groups/{id}/members?$top=999``). The answer is ``200`` with
``{"responses": [{"id", "status", "headers", "body"}, …]}``; like Graph, the emulator does not
promise the request order (it answers in reverse). Checked against
https://learn.microsoft.com/graph/json-batching and the known issue "limit on batch size" (20).

What the emulator does, and how it maps to its other features:

* Each sub-request goes through the same steps as a request of its own, except latency: the
  fault plan (matched on the sub-request's ``/v1.0/…`` path and method), the resource-unit
  bucket (each item costs what the request would alone; an empty bucket answers that item
  ``429`` with ``Retry-After`` while the batch itself is ``200``), then the handler. The batch
  call itself costs no resource units and carries one round trip of latency.
* A ``status`` fault answers the item with that status; ``expired_token`` a ``401``;
  ``repeat_page`` / ``empty_page`` rewrite the item's body; ``reset`` drops the whole
  connection and ``truncate`` cuts the whole batch answer in half (one body carries them all).
* Every sub-request is recorded in ``emulator.batched`` (the request log holds round trips).
* Only ``GET`` is served (the emulator is read-only): other methods answer the item ``405``.
* ``dependsOn`` is supported in its simple form: each id it names must come earlier in the
  batch; an item whose dependency failed is answered ``424 Failed Dependency``.
* A whole-batch error (not JSON, no ``requests`` list, more than 20 requests, an item without
  ``id``/``method``/``url``, a repeated ``id``) is ``400`` in Graph's error envelope. The
  wording of Graph's own messages is not documented; the code (``BadRequest``) is.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx

from idpsync.emulators.entra import api
from idpsync.emulators.entra.odata import GraphError
from idpsync.emulators.framework import RecordedRequest

if TYPE_CHECKING:
    from idpsync.emulators.entra.emulator import EntraEmulator

MAX_REQUESTS = 20
"""Graph's documented limit of requests in one batch."""
JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;charset=utf-8"


class BatchError(GraphError):
    """The batch as a whole is refused (400)."""

    def __init__(self, message: str) -> None:
        super().__init__(400, "BadRequest", message)


def parse(raw: bytes) -> list[dict[str, Any]]:
    """The checked list of sub-requests, or :class:`BatchError`."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BatchError("Invalid batch payload format: the body is not JSON.") from exc
    requests = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(requests, list) or not requests:
        raise BatchError("Invalid batch payload format: 'requests' must be a non-empty array.")
    if len(requests) > MAX_REQUESTS:
        raise BatchError(
            f"The batch holds {len(requests)} requests; at most {MAX_REQUESTS} are allowed."
        )
    seen: set[str] = set()
    for item in requests:
        if not isinstance(item, dict) or not all(
            isinstance(item.get(k), str) and item.get(k) for k in ("id", "method", "url")
        ):
            raise BatchError("Each request of a batch needs 'id', 'method' and 'url'.")
        if item["id"] in seen:
            raise BatchError(f"The request id '{item['id']}' is used twice in the batch.")
        depends = item.get("dependsOn", [])
        if not isinstance(depends, list) or any(d not in seen for d in depends):
            raise BatchError(f"Request '{item['id']}' depends on a request not before it.")
        seen.add(item["id"])
    return requests


class BatchRunner:
    """Answers the sub-requests of one batch call for an :class:`EntraEmulator`."""

    def __init__(
        self, emulator: EntraEmulator, base: str, version: str, headers: Mapping[str, str]
    ) -> None:
        self.emu = emulator
        self.base = base
        self.version = version
        self.headers = dict(headers)
        self.truncate = False

    def run(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Every sub-request's answer, in reverse order (Graph promises no order)."""
        status: dict[str, int] = {}
        answers = []
        for item in requests:
            if any(status[d] >= 400 for d in item.get("dependsOn", [])):
                answer = self._error(item["id"], 424, "FailedDependency", "A dependency failed.")
            else:
                answer = self._one(item)
            status[item["id"]] = answer["status"]
            answer["headers"] = _titled(answer["headers"])
            answers.append(answer)
        return answers[::-1]

    def _one(self, item: dict[str, Any]) -> dict[str, Any]:
        method = str(item["method"]).upper()
        url = str(item["url"])
        parts = urlsplit(url)
        if parts.scheme or parts.netloc:
            return self._error(item["id"], 400, "BadRequest", "The request URL must be relative.")
        path = f"/{self.version}/{unquote(parts.path).strip('/')}"
        fault = self.emu.faults.pick(method, path)
        kind = fault.kind if fault else None
        answer, cost = self._answer(item, method, path, parts.query, fault)
        if kind in ("repeat_page", "empty_page") and answer["status"] == 200:
            answer["body"] = self.emu.rewrite_page(answer["body"], f"{self.base}{url}", kind)
        self.emu.batched.add(
            RecordedRequest(method, path, parts.query, answer["status"], cost, kind)
        )
        return answer

    def _answer(
        self, item: dict[str, Any], method: str, path: str, query: str, fault: Any
    ) -> tuple[dict[str, Any], float | None]:
        if fault is not None and fault.kind == "reset":
            raise httpx.RemoteProtocolError("emulator: connection reset mid-batch (injected)")
        if fault is not None and fault.kind == "truncate":
            self.truncate = True
        if fault is not None and fault.kind == "status":
            return self._error(item["id"], fault.status, "serviceNotAvailable", "Injected."), None
        if fault is not None and fault.kind == "expired_token":
            message = "Lifetime validation failed, the token is expired."
            return self._error(item["id"], 401, "InvalidAuthenticationToken", message), None
        if method != "GET":
            message = "The emulator serves reads only."
            return self._error(item["id"], 405, "Request_BadRequest", message), None
        charge = self.emu.charge(method, path, query, self.headers)
        extra = dict(charge.headers) if charge else {}
        if charge is not None and charge.retry_after:
            reply = self.emu.throttled_reply(charge)
            answer = self._error(item["id"], 429, "TooManyRequests", "Too many requests.")
            answer["headers"].update({k: v for k, v in reply.headers if k.startswith(("r", "x"))})
            return answer, charge.cost
        cost = charge.cost if charge else None
        given = item.get("headers")
        sub_headers: dict[str, Any] = given if isinstance(given, dict) else {}
        headers = {**self.headers, **{str(k).lower(): str(v) for k, v in sub_headers.items()}}
        call = api.Call(
            self.emu.tenant,
            self.base,
            path.strip("/").split("/")[1:],
            dict(parse_qsl(query, keep_blank_values=True)),
            headers,
            self.emu._cache,
            self.emu._texts,
        )
        try:
            result = self.emu._dispatch(call)
        except GraphError as exc:
            answer = self._error(item["id"], exc.status, exc.code, exc.message)
            answer["headers"].update(extra)
            return answer, cost
        if isinstance(result, api.Binary):
            body: Any = base64.b64encode(result.body).decode()
            extra["content-type"] = result.content_type
        else:
            body = result
            extra["content-type"] = JSON_TYPE
        return {"id": item["id"], "status": 200, "headers": extra, "body": body}, cost

    def _error(self, item_id: str, status: int, code: str, message: str) -> dict[str, Any]:
        reply = self.emu.error_reply(status, code, message)
        headers = {k: v for k, v in reply.headers if k != "www-authenticate"}
        return {"id": item_id, "status": status, "headers": headers, "body": json.loads(reply.body)}


def _titled(headers: dict[str, str]) -> dict[str, str]:
    """Header names as Graph writes them in batch items (``Content-Type``, ``Retry-After``)."""
    return {"-".join(p.capitalize() for p in k.split("-")): v for k, v in headers.items()}
