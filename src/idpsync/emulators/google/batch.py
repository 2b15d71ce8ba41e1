"""Google's batch endpoint: many Directory API calls in one ``multipart/mixed`` request.

``POST /batch/admin/directory_v1`` (and ``POST /batch``, the discovery document's
``batchPath`` that google-api-python-client uses) takes a ``multipart/mixed`` body whose parts
are ``application/http`` requests, each with a ``Content-ID``. Every inner call is answered
as if sent alone (its own ``Authorization`` header, else the outer one), **charged to the
quota on its own** (an exhausted quota answers that part 403 ``userRateLimitExceeded`` while
the batch itself is 200), and returned as one part of a ``multipart/mixed`` answer with
``Content-ID: <response-ID>``, in request order. A batch costs one round trip of latency.
More than :data:`BATCH_MAX` calls, or a body that is not ``multipart/mixed``, is a 400.
Google documents a limit of 1,000 calls per batch, all to the same API, and that ``n`` batched
calls count as ``n`` requests against the usage limits, not one
(developers.google.com/admin-sdk/directory/v1/guides/batch; the same batch guide text for
every Google discovery API). Google may answer the parts in any order; clients match them by
``Content-ID`` (this emulator keeps request order).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP

BATCH_MAX = 1000
BATCH_PATHS = ("/batch/admin/directory_v1", "/batch")


@dataclass(frozen=True, slots=True)
class InnerRequest:
    """One call of a batch."""

    content_id: str
    method: str
    path: str
    """Raw (percent-encoded) path."""
    query: str
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class InnerReply:
    """The answer to one call."""

    status: int
    reason: str
    body: bytes
    headers: list[tuple[str, str]]


class BatchError(Exception):
    """The batch as a whole is refused (400)."""


def parse(content_type: str, body: bytes) -> list[InnerRequest]:
    """The inner requests of a batch body (:class:`BatchError` when it is not one)."""
    if not content_type.lower().startswith("multipart/mixed"):
        raise BatchError("Content-Type must be multipart/mixed")
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise BatchError("the batch body has no parts")
    found: list[InnerRequest] = []
    for part in message.iter_parts():
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            raise BatchError("a batch part has no body")
        found.append(_request(str(part.get("Content-ID", "")).strip(), payload))
    if len(found) > BATCH_MAX:
        raise BatchError(f"Too many requests in a batch: {len(found)} (at most {BATCH_MAX})")
    return found


def _request(content_id: str, payload: bytes) -> InnerRequest:
    text = payload.decode("utf-8", "replace").replace("\r\n", "\n")
    head, _, _ = text.partition("\n\n")
    lines = head.strip("\n").split("\n")
    try:
        method, target = lines[0].split()[:2]
    except ValueError:
        raise BatchError(f"not an HTTP request line: {lines[0]!r}") from None
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "://" in target:
        target = "/" + target.split("://", 1)[1].split("/", 1)[-1]
    path, _, query = target.partition("?")
    return InnerRequest(content_id, method.upper(), path, query, headers)


def answer(
    requests: list[InnerRequest], handle: Callable[[InnerRequest], InnerReply]
) -> tuple[str, bytes]:
    """The ``multipart/mixed`` answer (content type, body) to every inner request in order."""
    boundary = "batch_" + secrets.token_hex(12)
    chunks: list[bytes] = []
    for request in requests:
        reply = handle(request)
        inner = [f"HTTP/1.1 {reply.status} {reply.reason}"]
        inner += [f"{k}: {v}" for k, v in reply.headers if k.lower() != "content-length"]
        inner.append(f"Content-Length: {len(reply.body)}")
        ident = request.content_id
        if ident.startswith("<") and ident.endswith(">"):
            ident = ident[1:-1]
        part = [
            f"--{boundary}",
            "Content-Type: application/http",
            f"Content-ID: <response-{ident}>",
            "",
            "\r\n".join(inner),
            "",
        ]
        chunks.append(("\r\n".join(part) + "\r\n").encode() + reply.body + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return f"multipart/mixed; boundary={boundary}", b"".join(chunks)
