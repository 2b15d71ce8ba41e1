"""Paginators: how one listing goes from page to page, one small class per style.

Each API pages its listings one of a few ways. A :class:`Paginator` holds the state of *one*
listing (make a new one for every listing) and tells the client what to send next:

==================  ==============================================  =====================
class               the next page is…                               used by
==================  ==============================================  =====================
:class:`LinkHeader`  the URL of the ``Link: <…>; rel="next"`` header  Okta
:class:`BodyLink`    a URL in the body (``@odata.nextLink``)          Entra ID (Graph)
:class:`BodyToken`   a token in the body sent back as a parameter     Google, OneLogin v1
:class:`HeaderCursor` a cursor in a header sent back as a parameter   OneLogin v2
:class:`Offset`      ``first=N&max=M``: the next offset               Keycloak, Crowd
:class:`PageNumber`  ``page=N``: the next page number                 OneLogin v2 (by number)
:class:`StartIndex`  ``startIndex=N&count=M`` until ``totalResults``  SCIM 2.0
==================  ==============================================  =====================

The base class refuses a token, cursor or link it has seen before in the same listing
(:class:`~idpsync.errors.RepeatedPage`), so a server bug ends a listing with a reason instead
of an endless loop. :meth:`idpsync.http.client.HttpClient.pages` drives a paginator; an
:class:`~idpsync.http.endpoint.Endpoint` names its paginator and where its records are, so a
connector reads a whole listing with one call.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import httpx

from idpsync.errors import RepeatedPage, ShapeError
from idpsync.http.shape import at_path, json_list, kind_of, page_items

_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing as the client read it."""

    response: httpx.Response
    """The answer (headers: rate limits, server time)."""
    body: Any
    """The decoded JSON body."""
    records: list[Any]
    """The page's records (see :attr:`~idpsync.http.endpoint.Endpoint.records`)."""
    number: int
    """1 for the first page."""


def records_of(body: object, records: str | None, where: str) -> list[Any]:
    """The records of a page: ``body[records]`` (absent: none), or the body itself if ``None``."""
    if records is None:
        return json_list(body, where)
    return page_items(body, records, where)


class Paginator(ABC):
    """The paging state of one listing (see the module docstring)."""

    what = "page token"
    """How the thing that leads to the next page is called in a reason."""
    in_head = False
    """Whether the answer's head alone names the next page (:meth:`from_head`)."""

    def __init__(self) -> None:
        self.params: dict[str, str] = {}
        """Query parameters for the next request, on top of the caller's."""
        self.url: str | None = None
        """A whole next URL (with its own query: the caller's parameters are not sent again)."""
        self._seen: set[str] = set()

    def first(self) -> dict[str, str]:
        """Parameters of the first request (e.g. the page size), on top of the caller's."""
        return dict(self.params)

    @abstractmethod
    def advance(self, page: Page, where: str) -> bool:
        """Take what leads to the next page from ``page``; False when the listing is finished."""

    def from_head(self, response: httpx.Response, where: str) -> bool:
        """:meth:`advance` from the answer's headers alone (only if :attr:`in_head`)."""
        raise NotImplementedError(f"{type(self).__name__} pages from the body")

    def once(self, token: str, where: str) -> str:
        """``token``, unless this listing had it already (:class:`RepeatedPage` then)."""
        if token in self._seen:
            shown = token if len(token) <= 48 else token[:48] + "…"
            raise RepeatedPage(
                f"{where}: the IdP returned the same {self.what} twice ({shown}); stopping "
                "instead of looping (a paging bug on the server's side; try again later)"
            )
        self._seen.add(token)
        return token


class LinkHeader(Paginator):
    """``Link: <https://…?after=…>; rel="next"`` (RFC 8288); no such link ends the listing."""

    what = "next link"
    in_head = True

    def advance(self, page: Page, where: str) -> bool:  # noqa: D102 - see the base class
        return self.from_head(page.response, where)

    def from_head(self, response: httpx.Response, where: str) -> bool:  # noqa: D102
        for value in response.headers.get_list("link"):
            match = _NEXT.search(value)
            if match:
                self.url = self.once(match.group(1), where)
                return True
        return False


class BodyLink(Paginator):
    """A next-page URL in the body (``@odata.nextLink``); absent or null ends the listing."""

    what = "next link"

    def __init__(self, key: str = "@odata.nextLink") -> None:
        super().__init__()
        self.key = key

    def advance(self, page: Page, where: str) -> bool:  # noqa: D102 - see the base class
        link = _text(at_path(page.body, self.key, where), self.key, where)
        if link is None:
            return False
        self.url = self.once(link, where)
        return True


class BodyToken(Paginator):
    """A token in the body (``nextPageToken``, ``pagination.after_cursor``) sent as ``param``."""

    def __init__(self, key: str = "nextPageToken", param: str = "pageToken") -> None:
        super().__init__()
        self.key, self.param = key, param
        self.what = key.rsplit(".", 1)[-1]

    def advance(self, page: Page, where: str) -> bool:  # noqa: D102 - see the base class
        token = _text(at_path(page.body, self.key, where), self.key, where)
        if token is None:
            return False
        self.params = {self.param: self.once(token, where)}
        return True


class HeaderCursor(Paginator):
    """A cursor in a response header (``After-Cursor``) sent back as ``param``.

    The header value is URL-encoded by some servers; it is decoded once so that the query
    encoding does not encode it a second time.
    """

    def __init__(self, header: str = "after-cursor", param: str = "cursor") -> None:
        super().__init__()
        self.header, self.param = header, param
        self.what = f"{header} cursor"

    def advance(self, page: Page, where: str) -> bool:  # noqa: D102 - see the base class
        raw = page.response.headers.get(self.header)
        if raw is None or not raw.strip():
            return False
        self.params = {self.param: self.once(unquote(raw.strip()), where)}
        return True


class Offset(Paginator):
    """``first=0&max=100``, then ``first=100``…; a short page (or ``total`` read) ends it.

    ``short_ends=False`` is for a server that may return fewer records than asked for while
    more follow (it caps the page size without saying so): then only an empty page ends the
    listing, at the cost of one more request, and the next offset is what was read so far.
    """

    def __init__(
        self,
        size: int,
        *,
        offset: str = "first",
        limit: str = "max",
        total: int | None = None,
        short_ends: bool = True,
    ) -> None:
        super().__init__()
        self.size, self.offset, self.limit, self.total = size, offset, limit, total
        self.short_ends = short_ends
        self.read = 0
        self.params = {offset: "0", limit: str(size)}

    def advance(self, page: Page, where: str) -> bool:  # noqa: D102 - see the base class
        self.read += len(page.records)
        last = len(page.records) < self.size if self.short_ends else not page.records
        if last or (self.total is not None and self.read >= self.total):
            return False
        self.params = {self.offset: str(self.read), self.limit: str(self.size)}
        return True


class PageNumber(Paginator):
    """``page=1``, ``page=2``…; a page shorter than ``size`` (or the last page) ends it."""

    def __init__(self, size: int, *, param: str = "page", start: int = 1, last: int | None = None):
        super().__init__()
        self.size, self.param, self.number, self.last = size, param, start, last
        self.params = {param: str(start)}

    def advance(self, page: Page, where: str) -> bool:  # noqa: D102 - see the base class
        if len(page.records) < self.size or (self.last is not None and self.number >= self.last):
            return False
        self.number += 1
        self.params = {self.param: str(self.number)}
        return True


class StartIndex(Paginator):
    """SCIM 2.0 (RFC 7644 §3.4.2.4): ``startIndex`` is 1-based; ``totalResults`` ends it.

    An empty page also ends it, so a server whose ``totalResults`` is too high cannot loop.
    """

    def __init__(self, count: int, *, index: str = "startIndex", size: str = "count") -> None:
        super().__init__()
        self.count, self.index, self.size = count, index, size
        self.read = 0
        self.params = {index: "1", size: str(count)}

    def advance(self, page: Page, where: str) -> bool:  # noqa: D102 - see the base class
        self.read += len(page.records)
        total = at_path(page.body, "totalResults", where)
        if total is not None and (not isinstance(total, int) or isinstance(total, bool)):
            raise ShapeError(f"{where}: 'totalResults' is {kind_of(total)}, expected a number")
        if not page.records or total is None or self.read >= total:
            return False
        self.params = {self.index: str(self.read + 1), self.size: str(self.count)}
        return True


def _text(value: object, key: str, where: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ShapeError(f"{where}: {key!r} is {kind_of(value)}, expected text")
    return value


def merged(base: Mapping[str, Any] | None, extra: Mapping[str, str]) -> dict[str, Any]:
    """The caller's query parameters with the paginator's on top."""
    return {**(base or {}), **extra}
