"""Google's batch endpoint for member listings: the wire format and one page's answer.

``POST /batch/admin/directory_v1`` takes a ``multipart/mixed`` body, one ``application/http``
part per call, and answers one part per call, matched back by ``Content-ID`` (Google does not
promise their order). Google allows 1,000 calls a batch and charges each call to the quota on
its own (developers.google.com/admin-sdk/directory/v1/guides/batch), so the request budget
takes one token per inner call: a batch saves round trips and connections, never quota.
Which pages go in which batch, and when, is :mod:`.rolling`'s work.

Each inner answer is handled as the call alone would be (:func:`advance`): a 200 gives the
group's next page; a rate limit (429, 403 ``rateLimitExceeded``) or a 5xx asks the same page
again after a backoff; anything else (a 404 for a group deleted meanwhile, an expired token),
a page of the wrong shape or a repeated page token makes that group's listing run again on
its own, **from its first page** (the pages read in batches are dropped, so no edge is
counted twice or lost), with the connector's usual retries and its 404 rule (only a 404 on
the group itself means gone). A batch that fails as a whole does the same for all its groups.
"""

from __future__ import annotations

import base64
import binascii
import json
import quopri
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, urlencode

import httpx

from idpsync.errors import SourceError
from idpsync.http import errors as e
from idpsync.http.policy import Action, classify_response
from idpsync.model import EdgeList, Snapshot, SourceGroup
from idpsync.sources.clean import usable_id
from idpsync.sources.google import api as g
from idpsync.sources.google.endpoints import BATCH, MEMBER_PAGE, MEMBERS
from idpsync.sources.lanes import Lanes

if TYPE_CHECKING:
    from idpsync.sources.google.reader import GoogleSource

Edges = EdgeList | None
"""A group's candidate edges (a :meth:`~idpsync.model.EdgeList.part` of the snapshot's edges);
``None`` when the group is gone (see ``GoogleSource._members``)."""


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
    """Inner answers by call index: ``(status, body)``; parts that cannot be read are left out.

    The body is split on its boundary lines directly (the e-mail parser took about 2 ms a part,
    on the path of the longest listing's chain); each part's ``Content-ID`` names its call, and
    its payload is an HTTP response (status line, headers, blank line, body). A part in base64
    or quoted-printable (``Content-Transfer-Encoding``) is decoded first.
    """
    boundary = _boundary(content_type)
    if boundary is None:
        return {}
    delimiter = b"\n--" + boundary
    found: dict[int, tuple[int, bytes]] = {}
    for chunk in (b"\n" + body).split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        part = _part(chunk.partition(b"\n")[2])  # the rest of the boundary line is padding
        if part is not None:
            found[part[0]] = part[1]
    return found


def _boundary(content_type: str) -> bytes | None:
    """The ``boundary`` parameter of a ``multipart/…`` content type."""
    kind, _, rest = content_type.partition(";")
    if not kind.strip().lower().startswith("multipart/"):
        return None
    for param in rest.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "boundary" and value.strip():
            try:
                return value.strip().strip('"').encode("ascii")
            except UnicodeEncodeError:
                return None
    return None


def _headers(block: bytes) -> dict[str, str]:
    """Header lines (lower-case names); a line without a colon is ignored."""
    found: dict[str, str] = {}
    for line in block.split(b"\n"):
        name, colon, value = line.partition(b":")
        if colon:
            found[name.strip().decode("latin-1").lower()] = value.strip().decode("latin-1")
    return found


def _part(chunk: bytes) -> tuple[int, tuple[int, bytes]] | None:
    """One part: its call index and ``(status, body)``; ``None`` if it cannot be read."""
    chunk = chunk.removesuffix(b"\r")  # the CR of the line break before the next boundary
    head, _, payload = _split_head(chunk)
    headers = _headers(head)
    ident = headers.get("content-id", "").strip().strip("<>")
    if not ident.startswith("response-item-"):
        return None
    encoding = headers.get("content-transfer-encoding", "").lower()
    try:
        if encoding == "base64":
            payload = base64.b64decode(payload)
        elif encoding == "quoted-printable":
            payload = quopri.decodestring(payload)
        index = int(ident.rsplit("-", 1)[1])
        status_line, _, rest = payload.partition(b"\n")
        status = int(status_line.split()[1])
    except (IndexError, ValueError, binascii.Error):
        return None
    inner, _, content = _split_head(rest)
    length = _headers(inner).get("content-length", "")
    if length.isdigit() and int(length) <= len(content):
        content = content[: int(length)]
    return index, (status, content)


def _split_head(block: bytes) -> tuple[bytes, bytes, bytes]:
    """Headers, the blank line and what follows it (CRLF or LF line breaks)."""
    crlf, lf = block.find(b"\r\n\r\n"), block.find(b"\n\n")
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return block[:crlf].replace(b"\r", b""), b"\r\n\r\n", block[crlf + 4 :]
    if lf >= 0:
        return block[:lf].replace(b"\r", b""), b"\n\n", block[lf + 2 :]
    return block.replace(b"\r", b""), b"", b""


class Step(Enum):
    """What one inner answer means for its listing."""

    MORE = "more"
    """A page of members with a next page token: the listing goes on."""
    END = "end"
    """The last page."""
    AGAIN = "again"
    """A rate limit (429, 403 ``rateLimitExceeded``) or a server error: ask that page again."""
    ALONE = "alone"
    """Anything else: read the group's whole listing again on its own."""


@dataclass(slots=True)
class Listing:
    """One group's member listing as read so far (in batches, or alone).

    Each page is turned into edges as it comes (:meth:`take`) and let go: what a listing holds
    is its edges at 9 bytes each, not Google's member resources (about 750 bytes each as
    parsed). What the page says about the read (items without a usable id, members that are
    no edge) is counted here and reported only when the listing ends (:func:`edges`): a
    listing read again from its first page reports nothing twice.
    """

    group: SourceGroup
    found: EdgeList
    """The candidate edges so far (a part of the snapshot's edges: ids stored once)."""
    token: str | None = None
    """The next page's token (``None`` before the first page)."""
    seen: set[str] = field(default_factory=set)
    unusable: int = 0
    """Items that are not objects with a usable id."""
    skipped: int = 0
    """Members that are no edge (the ``CUSTOMER`` member, other kinds)."""

    @classmethod
    def of(cls, snap: Snapshot, group: SourceGroup) -> Listing:
        """An empty listing of ``group``'s members, its edges a part of ``snap``'s."""
        return cls(group, snap.memberships.part())

    def path(self, nested: bool) -> str:
        """The inner call for the listing's next page."""
        params = member_params(nested)
        if self.token is not None:
            params["pageToken"] = self.token
        prefix = MEMBERS.template_path.split("{", 1)[0]
        return f"{prefix}{quote(self.group.source_id, safe='')}/members?{urlencode(params)}"

    def take(self, items: list[Any]) -> None:
        """One page's member resources, as edges (the resources are not kept)."""
        group = self.group.source_id
        for item in items:
            if not isinstance(item, dict) or usable_id(item.get("id")) is None:
                self.unusable += 1
            elif edge := g.to_membership(group, item):
                self.found.append(edge)
            else:
                self.skipped += 1


class Paged(Protocol):
    """A listing whose next page can be asked for as a call in a batch."""

    def path(self, nested: bool) -> str:
        """The inner call (path and query) for the next page."""
        ...


async def send(
    source: GoogleSource, listings: Sequence[Paged], part: list[int]
) -> dict[int, tuple[int, bytes]]:
    """One batch: the next page of each listing in ``part``; answers by listing index.

    The caller holds a lane and has taken a budget token for every call but the first (the
    request takes that one). A batch that fails as a whole (after the client's retries, or a
    400 refusing the batch itself) answers nothing, so each of its listings is read again
    alone; any other failure that ends the read (:data:`RULE`: refused credentials, a missing
    scope…) is raised.
    """
    http = source.http
    content_type, body = encode([listings[i].path(source.settings.nested) for i in part])
    answers: dict[int, tuple[int, bytes]] = {}
    try:
        headers = {"Content-Type": content_type}
        response = await http.request(BATCH, content=body, headers=headers)
        answers = decode(response.headers.get("content-type", ""), response.content)
    except SourceError as exc:
        if fatal(exc) and not isinstance(exc, e.BadRequest):  # a 400: this batch's body
            raise
    count(source, "batched_calls", len(part))
    count(source, "batches", 1)
    return {part[k]: answer for k, answer in answers.items() if 0 <= k < len(part)}


def advance(listing: Listing, answer: tuple[int, bytes] | None) -> Step:
    """Take one inner answer into its listing (see :class:`Step`).

    A transient status (the client's own rule, :func:`~idpsync.http.policy.classify_response`)
    asks the same page again. Anything else but a 200 with a page of members (a 404, an
    expired token, a missing part, a page of the wrong shape, a token seen before) sends the
    group's listing to be read again alone, from its first page, with the connector's retries
    and 404 rule: the pages kept so far are dropped, so nothing is counted twice or left out.
    """
    step, items, token = page_of(answer, "members", listing.seen)
    if items is None:
        return step
    listing.take(items)
    listing.token = token
    return step


def page_of(
    answer: tuple[int, bytes] | None, key: str, seen: set[str]
) -> tuple[Step, list[Any] | None, str | None]:
    """One inner answer of a listing whose items are under ``key``: its step, items and token.

    The items are ``None`` unless the answer is a 200 with a page of the right shape and a
    token not in ``seen`` (which the token then joins): :attr:`Step.AGAIN` for a transient
    status, :attr:`Step.ALONE` for anything else.
    """
    status, content = answer or (0, b"")
    if status != 200:
        if status >= 400 and _transient(status, content):
            return Step.AGAIN, None, None
        return Step.ALONE, None, None
    try:
        page: Any = json.loads(content)
    except ValueError:
        return Step.ALONE, None, None
    items = page.get(key, []) if isinstance(page, dict) else None
    token = page.get("nextPageToken") if isinstance(page, dict) else None
    if not isinstance(items, list) or (token is not None and not isinstance(token, str)):
        return Step.ALONE, None, None
    if token and token in seen:
        return Step.ALONE, None, None  # the listing would go round in circles
    if not token:
        return Step.END, items, None
    seen.add(token)
    return Step.MORE, items, token


def _transient(status: int, content: bytes) -> bool:
    """Whether the client would retry this answer had it come alone."""
    rule = classify_response(httpx.Response(status, content=content))
    return rule.action in (Action.RETRY, Action.RATE_LIMITED)


def rate_limited(answer: tuple[int, bytes] | None) -> bool:
    """Whether an inner answer is a rate limit (for the throttled counter)."""
    status, content = answer or (0, b"")
    rule = classify_response(httpx.Response(status, content=content)) if status >= 400 else None
    return rule is not None and rule.action is Action.RATE_LIMITED


async def alone(source: GoogleSource, snap: Snapshot, group: SourceGroup, lanes: Lanes) -> Edges:
    """The group's whole listing without batches (its retries and its 404 rule)."""
    async with lanes.other():
        return await source._members(snap, group)


def edges(source: GoogleSource, snap: Snapshot, listing: Listing) -> EdgeList:
    """The listing's edges once its last page is in; what it counted is reported now."""
    if listing.unusable:
        where = f"{MEMBERS.label} ({listing.group.source_id})"
        snap.mark_incomplete(
            f"{where}: {listing.unusable} item(s) are not objects with a usable id"
        )
    source._skipped(listing.skipped)
    return listing.found


def count(source: GoogleSource, key: str, amount: int) -> int:
    """Add ``amount`` to the run's counter ``key``; its new total."""
    source.stats.extra[key] = total = source.stats.extra.get(key, 0) + amount
    return int(total)


def fatal(exc: BaseException) -> bool:
    """The reader's failure rule (imported late: the reader imports this module)."""
    from idpsync.sources.google.reader import RULE

    return RULE.fatal(exc)
