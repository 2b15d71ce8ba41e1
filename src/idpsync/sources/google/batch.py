"""Member listings of many groups in one round trip: Google's batch endpoint.

With ``batch_size = n`` the first page of up to ``n`` groups' member listings goes in one
``POST /batch/admin/directory_v1`` (``multipart/mixed``, one ``application/http`` part per
call, matched back by ``Content-ID``). Google allows 1,000 calls a batch and charges each
call to the quota on its own (developers.google.com/admin-sdk/directory/v1/guides/batch), so
the request budget takes one token per inner call: a batch saves round trips and
connections, never quota.

Each inner answer is handled as the call alone would be: a 200 gives the group's first page
(a ``nextPageToken`` continues that group's listing with single requests); any other status
(403/429 rate limits, 5xx, a 404 for a group deleted meanwhile, an expired token) makes the
group's listing run again on its own with the connector's usual retries and its 404 rule
(only a 404 on the group itself means gone). A batch that fails as a whole does the same for
all its groups. Request count, with ``B = batch_size``::

    ceil(G / B) + Σ_g max(0, ceil(M_g / 200) − 1)   (+ one single request per inner failure)

in place of ``Σ_g max(1, ceil(M_g / 200))`` for the member listings.
"""

from __future__ import annotations

import json
import secrets
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from idpsync.errors import SourceError
from idpsync.model import Membership, Snapshot, SourceGroup
from idpsync.sources.google import api as g
from idpsync.sources.google.endpoints import BATCH, MEMBER_PAGE, MEMBERS
from idpsync.sources.lanes import Lanes, gather
from idpsync.sources.shape import identified

if TYPE_CHECKING:
    from idpsync.sources.google.reader import GoogleSource

Edges = list[Membership] | None
"""A group's candidate edges; ``None`` when the group is gone (see ``GoogleSource._members``)."""


def member_params(nested: bool) -> dict[str, str]:
    """The query of a member listing's first page."""
    params = {"maxResults": str(MEMBER_PAGE)}
    if nested:
        params["includeDerivedMembership"] = "true"
    return params


def encode(paths: list[str]) -> tuple[str, bytes]:
    """A ``multipart/mixed`` body of ``GET`` calls (content type, body); ids ``<item-i>``."""
    boundary = "idpsync_" + secrets.token_hex(10)
    parts = []
    for index, path in enumerate(paths):
        parts.append(
            f"--{boundary}\r\nContent-Type: application/http\r\n"
            f"Content-ID: <item-{index}>\r\n\r\nGET {path} HTTP/1.1\r\n\r\n"
        )
    body = "".join(parts) + f"--{boundary}--\r\n"
    return f"multipart/mixed; boundary={boundary}", body.encode()


def decode(content_type: str, body: bytes) -> dict[int, tuple[int, bytes]]:
    """Inner answers by call index: ``(status, body)``; parts that cannot be read are left out."""
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    found: dict[int, tuple[int, bytes]] = {}
    if not message.is_multipart():
        return found
    for part in message.iter_parts():
        ident = str(part.get("Content-ID", "")).strip().strip("<>")
        payload = part.get_payload(decode=True)
        if not ident.startswith("response-item-") or not isinstance(payload, bytes):
            continue
        head, _, content = payload.replace(b"\r\n", b"\n").partition(b"\n\n")
        try:
            status = int(head.split(b"\n", 1)[0].split()[1])
            index = int(ident.rsplit("-", 1)[1])
        except (IndexError, ValueError):
            continue
        found[index] = (status, content)
    return found


async def all_members(
    source: GoogleSource, snap: Snapshot, groups: list[SourceGroup], lanes: Lanes
) -> list[Edges]:
    """Every group's edges (in ``groups`` order), first pages in batches of ``batch_size``."""
    size = source.settings.batch_size
    chunks = [groups[i : i + size] for i in range(0, len(groups), size)]

    async def chunk(part: list[SourceGroup]) -> list[Edges]:
        async with lanes.other():
            return await _chunk(source, snap, part)

    found: list[Edges] = []
    for result in await gather(*(chunk(part) for part in chunks)):
        found += result
    return found


async def _chunk(source: GoogleSource, snap: Snapshot, groups: list[SourceGroup]) -> list[Edges]:
    http, nested = source.http, source.settings.nested
    query = urlencode(member_params(nested))
    prefix = MEMBERS.template_path.split("{", 1)[0]
    paths = [f"{prefix}{quote(grp.source_id, safe='')}/members?{query}" for grp in groups]
    content_type, body = encode(paths)
    answers: dict[int, tuple[int, bytes]] = {}
    try:
        await http.budget.take(len(paths) - 1)  # Google counts every inner call
        response = await http.request(BATCH, content=body, headers={"Content-Type": content_type})
        answers = decode(response.headers.get("content-type", ""), response.content)
    except SourceError as exc:
        if _fatal(exc):
            raise
    source.stats.extra["batched_calls"] = source.stats.extra.get("batched_calls", 0) + len(paths)

    async def one(index: int, group: SourceGroup) -> Edges:
        status, content = answers.get(index, (0, b""))
        if status != 200:
            source.stats.extra["batch_fallbacks"] = source.stats.extra.get("batch_fallbacks", 0) + 1
            return await source._members(snap, group)  # alone, with its retries and 404 rule
        return await _rest(source, snap, group, content)

    return list(await gather(*(one(i, grp) for i, grp in enumerate(groups))))


async def _rest(source: GoogleSource, snap: Snapshot, group: SourceGroup, content: bytes) -> Edges:
    """A group's edges from its first page, reading the next pages one by one."""
    try:
        page: Any = json.loads(content)
        items = list(page.get("members") or []) if isinstance(page, dict) else None
    except ValueError:
        items = None
    if items is None:
        return await source._members(snap, group)
    token = page.get("nextPageToken")
    if token:
        params = member_params(source.settings.nested)
        url = source.http.target(MEMBERS, {"groupKey": group.source_id}).url
        start = f"{url}?{urlencode({**params, 'pageToken': str(token)})}"
        try:
            pages = source.http.pages(MEMBERS, {"groupKey": group.source_id}, params=params,
                                      start=start)  # fmt: skip
            async for more in pages:
                items += more.records
        except SourceError as exc:
            if _fatal(exc):
                raise
            return await source._members(snap, group)  # read the whole listing again, alone
    where = f"{MEMBERS.label} ({group.source_id})"
    items = identified(snap, where, items)
    edges = [edge for item in items if (edge := g.to_membership(group.source_id, item))]
    source._skipped(len(items) - len(edges))
    return edges


def _fatal(exc: BaseException) -> bool:
    """The reader's failure rule (imported late: the reader imports this module)."""
    from idpsync.sources.google.reader import RULE

    return RULE.fatal(exc)
