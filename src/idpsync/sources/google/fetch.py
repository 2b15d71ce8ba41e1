"""Single resources (``users/{key}``, ``groups/{key}``) read many at a time in batch requests.

An incremental read fetches every user and group the activity log names. With
``batch_size = n`` those ``GET`` calls go ``n`` to a ``POST /batch/admin/directory_v1`` request
(the batch endpoint of :mod:`.batch`), the batches side by side within the HTTP concurrency;
each inner call still counts against the quota. An inner answer that is neither a 200 with a
JSON object nor one of the endpoint's ``absent`` statuses (a rate limit, a 5xx, a missing
part), or a batch that fails as a whole, has its call sent again alone, with the client's
usual retries. With ``batch_size = 0`` every call goes alone. Requests:
``ceil(K / batch_size)`` for ``K`` keys (+ one per call sent again alone, counted in the
stats as ``batch_calls_resent``).

Pacing: a batch waits for one budget token per inner call before it goes, and the batches
take their tokens one batch after the other. Taken side by side (token by token in turn), every
batch would be ready only when all of them are, and all would go in the same second: at L
5,358 calls at once against Google's 2,400 a minute, the calls past the quota refused and sent
again alone (about 1,360 more requests in a measured run). One after the other, each batch goes as
soon as its own calls are paid for, at the rate the quota refills. An incremental read that
starts once the quota has refilled pays its first calls from ``source.credit`` instead
(:func:`idpsync.sources.google.incremental.burst`): those go at once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from idpsync.errors import SourceError
from idpsync.http import Endpoint
from idpsync.http import errors as e
from idpsync.sources.google.batch import decode, encode
from idpsync.sources.google.endpoints import BATCH
from idpsync.sources.lanes import gather

if TYPE_CHECKING:
    from idpsync.sources.google.reader import GoogleSource

MISSING = object()
"""An inner answer that must be asked again alone."""
FAILED = object()
"""A call that failed even alone (:func:`fetch_each` with ``lenient``)."""


async def fetch_many(
    source: GoogleSource,
    endpoint: Endpoint,
    field: str,
    keys: list[str],
    params: Mapping[str, str] | None = None,
) -> list[dict[str, Any] | None]:
    """The resource at each key (``None`` where it is absent), in ``keys`` order.

    ``params`` go with every call (e.g. the users' ``projection``).
    """
    return await fetch_each(source, endpoint, [{field: key} for key in keys], params)


async def fetch_each(
    source: GoogleSource,
    endpoint: Endpoint,
    calls: list[dict[str, str]],
    params: Mapping[str, str] | None = None,
    *,
    lenient: bool = False,
) -> list[Any]:
    """:func:`fetch_many` with every placeholder of the path given per call.

    ``lenient``: a call that still fails when sent again alone (not fatally) answers
    :data:`FAILED` instead of failing the read.
    """
    size = source.settings.batch_size
    found: list[Any] = [MISSING] * len(calls)
    if size and len(calls) > 1:
        parts = [list(range(i, min(i + size, len(calls)))) for i in range(0, len(calls), size)]
        turn = asyncio.Lock()  # one batch at a time takes its tokens (module docstring)
        answers = await gather(
            *(_send(source, endpoint, [calls[i] for i in p], params, turn) for p in parts)
        )
        for part, got in zip(parts, answers, strict=True):
            for k, index in enumerate(part):
                found[index] = got[k]
    again = [i for i, body in enumerate(found) if body is MISSING]
    if size and len(calls) > 1 and again:
        extra = source.stats.extra
        extra["batch_calls_resent"] = extra.get("batch_calls_resent", 0) + len(again)
    bodies = await gather(*(_alone(source, endpoint, calls[i], params, lenient) for i in again))
    for index, body in zip(again, bodies, strict=True):
        found[index] = body
    return found


async def _alone(
    source: GoogleSource,
    endpoint: Endpoint,
    call: dict[str, str],
    params: Mapping[str, str] | None,
    lenient: bool,
) -> Any:
    try:
        return await source.http.get_json(endpoint, call, params=params)
    except SourceError as exc:
        from idpsync.sources.google.reader import RULE

        if not lenient or RULE.fatal(exc):
            raise
        return FAILED


async def _send(
    source: GoogleSource,
    endpoint: Endpoint,
    calls: list[dict[str, str]],
    params: Mapping[str, str] | None,
    turn: asyncio.Lock,
) -> list[Any]:
    """One batch of ``GET`` calls: each answer, ``None`` if absent, :data:`MISSING` to redo."""
    http = source.http
    query = "?" + urlencode(params, safe=",") if params else ""
    paths = [
        endpoint.template_path.format(**{k: quote(v, safe="") for k, v in call.items()}) + query
        for call in calls
    ]
    content_type, body = encode(paths)
    answers: dict[int, tuple[int, bytes]] = {}
    try:
        async with turn:  # Google counts every inner call; the read's burst pays first
            free = min(source.credit, len(calls) - 1)
            source.credit -= free
            await http.budget.take(len(calls) - 1 - free)
        response = await http.request(BATCH, content=body, headers={"Content-Type": content_type})
        answers = decode(response.headers.get("content-type", ""), response.content)
    except SourceError as exc:
        from idpsync.sources.google.reader import RULE

        if RULE.fatal(exc) and not isinstance(exc, e.BadRequest):
            raise
    extra = source.stats.extra
    extra["batched_calls"] = extra.get("batched_calls", 0) + len(calls)
    return [_one(answers.get(k), endpoint) for k in range(len(calls))]


def _one(answer: tuple[int, bytes] | None, endpoint: Endpoint) -> Any:
    if answer is None:
        return MISSING
    status, content = answer
    if status in endpoint.absent:
        return None
    if status != 200:
        return MISSING
    try:
        item = json.loads(content)
    except ValueError:
        return MISSING
    return item if isinstance(item, dict) else MISSING
