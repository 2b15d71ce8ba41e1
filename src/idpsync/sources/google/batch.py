"""Member listings of many groups in one round trip: Google's batch endpoint.

With ``batch_size = n`` (default 100) every page of the groups' member listings goes in
``POST /batch/admin/directory_v1`` requests (``multipart/mixed``, one ``application/http``
part per call, matched back by ``Content-ID``), in rounds: round ``k`` carries the ``k``-th
page of every listing not yet ended (its ``pageToken`` from round ``k - 1``), ``n`` calls a
batch, the batches of a round side by side within the HTTP concurrency. Google allows 1,000
calls a batch and charges each call to the quota on its own
(developers.google.com/admin-sdk/directory/v1/guides/batch), so the request budget takes one
token per inner call: a batch saves round trips and connections, never quota.

Each inner answer is handled as the call alone would be: a 200 gives the group's next page;
any other status (403/429 rate limits, 5xx, a 404 for a group deleted meanwhile, an expired
token), a page of the wrong shape or a repeated page token makes that group's listing run
again on its own, **from its first page** (the pages read in batches are dropped, so no edge
is counted twice or lost), with the connector's usual retries and its 404 rule (only a 404
on the group itself means gone). A batch that fails as a whole does the same for all its
groups. Request count, with ``B = batch_size``, ``P_g = max(1, ceil(M_g / 200))`` pages of
group ``g`` and ``N_k`` the groups with at least ``k`` pages (``N_1 = G``)::

    Σ_{k=1..max P_g} ceil(N_k / B)   (+ Σ P_g of every group read again alone)

in place of ``Σ_g P_g`` for the member listings. A page needs the token of the page before,
so the rounds are as many as the largest group has pages: that chain bounds the wall time
whatever ``B`` is.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from idpsync.errors import SourceError
from idpsync.http import errors as e
from idpsync.model import Membership, Snapshot, SourceGroup
from idpsync.sources.base import Event, Progress, no_progress
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
    source: GoogleSource,
    snap: Snapshot,
    groups: list[SourceGroup],
    lanes: Lanes,
    progress: Progress = no_progress,
) -> list[Edges]:
    """Every group's edges (in ``groups`` order), every page sent in batches, round by round.

    Round ``k`` carries the ``k``-th page of every listing still going, in batches of
    ``batch_size`` sent side by side; a listing that cannot go on in batches (see
    :func:`_advance`) is read again alone, from its first page, while the rounds go on.
    """
    size = source.settings.batch_size
    listings = [_Listing(grp) for grp in groups]
    found: dict[int, Edges] = {}
    alone: dict[int, asyncio.Task[Edges]] = {}
    todo = list(range(len(groups)))
    try:
        while todo:
            parts = [todo[i : i + size] for i in range(0, len(todo), size)]
            answers = await gather(*(_send(source, listings, part, lanes) for part in parts))
            rounds = _count(source, "batch_rounds", 1)
            todo = []
            for part, got in zip(parts, answers, strict=True):
                for index in part:
                    more = _advance(listings[index], got.get(index))
                    if more is None:
                        _count(source, "batch_fallbacks", 1)
                        job = _alone(source, snap, listings[index].group, lanes)
                        alone[index] = asyncio.ensure_future(job)
                    elif more:
                        todo.append(index)
                    else:
                        found[index] = _edges(source, snap, listings[index])
                        listings[index].items = []
            ended = len(groups) - len(todo)
            what = f"reading group members (round {rounds}, {len(todo)} listings go on)"
            progress(Event("fetch", what, ended, len(groups)))
        for index, edges in zip(alone, await asyncio.gather(*alone.values()), strict=True):
            found[index] = edges
    except BaseException:
        for task in alone.values():
            task.cancel()
        await asyncio.gather(*alone.values(), return_exceptions=True)
        raise
    return [found[index] for index in range(len(groups))]


@dataclass(slots=True)
class _Listing:
    """One group's member listing as read so far in batches."""

    group: SourceGroup
    items: list[Any] = field(default_factory=list)
    token: str | None = None
    """The next page's token (``None`` before the first page)."""
    seen: set[str] = field(default_factory=set)


def _path(listing: _Listing, nested: bool) -> str:
    """The inner call for the listing's next page."""
    params = member_params(nested)
    if listing.token is not None:
        params["pageToken"] = listing.token
    prefix = MEMBERS.template_path.split("{", 1)[0]
    return f"{prefix}{quote(listing.group.source_id, safe='')}/members?{urlencode(params)}"


async def _send(
    source: GoogleSource, listings: list[_Listing], part: list[int], lanes: Lanes
) -> dict[int, tuple[int, bytes]]:
    """One batch: the next page of each listing in ``part``; answers by listing index.

    A batch that fails as a whole (after the client's retries, or a 400 refusing the batch
    itself) answers nothing, so each of its listings is read again alone; any other failure
    that ends the read (:data:`RULE`: refused credentials, a missing scope…) is raised.
    """
    http = source.http
    content_type, body = encode([_path(listings[i], source.settings.nested) for i in part])
    answers: dict[int, tuple[int, bytes]] = {}
    async with lanes.other():
        try:
            await http.budget.take(len(part) - 1)  # Google counts every inner call
            headers = {"Content-Type": content_type}
            response = await http.request(BATCH, content=body, headers=headers)
            answers = decode(response.headers.get("content-type", ""), response.content)
        except SourceError as exc:
            if _fatal(exc) and not isinstance(exc, e.BadRequest):  # a 400: this batch's body
                raise
    _count(source, "batched_calls", len(part))
    return {part[k]: answer for k, answer in answers.items() if 0 <= k < len(part)}


def _advance(listing: _Listing, answer: tuple[int, bytes] | None) -> bool | None:
    """Take one page: ``True`` more pages follow, ``False`` the listing ended, ``None`` alone.

    Anything but a 200 with a page of members (a rate limit, a 5xx, a 404, an expired token, a
    missing part, a page of the wrong shape, a token seen before) sends the group's listing to
    be read again alone, from its first page, with the connector's retries and 404 rule: the
    pages kept so far are dropped, so nothing is counted twice or left out.
    """
    status, content = answer or (0, b"")
    if status != 200:
        return None
    try:
        page: Any = json.loads(content)
    except ValueError:
        return None
    items = page.get("members", []) if isinstance(page, dict) else None
    token = page.get("nextPageToken") if isinstance(page, dict) else None
    if not isinstance(items, list) or (token is not None and not isinstance(token, str)):
        return None
    if token and token in listing.seen:
        return None  # the listing would go round in circles
    listing.items += items
    if not token:
        return False
    listing.seen.add(token)
    listing.token = token
    return True


async def _alone(source: GoogleSource, snap: Snapshot, group: SourceGroup, lanes: Lanes) -> Edges:
    """The group's whole listing without batches (its retries and its 404 rule)."""
    async with lanes.other():
        return await source._members(snap, group)


def _edges(source: GoogleSource, snap: Snapshot, listing: _Listing) -> Edges:
    group = listing.group.source_id
    items = identified(snap, f"{MEMBERS.label} ({group})", listing.items)
    edges = [edge for item in items if (edge := g.to_membership(group, item, snap.edge))]
    source._skipped(len(items) - len(edges))
    return edges


def _count(source: GoogleSource, key: str, amount: int) -> int:
    source.stats.extra[key] = total = source.stats.extra.get(key, 0) + amount
    return int(total)


def _fatal(exc: BaseException) -> bool:
    """The reader's failure rule (imported late: the reader imports this module)."""
    from idpsync.sources.google.reader import RULE

    return RULE.fatal(exc)
