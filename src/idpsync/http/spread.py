"""Requests spread over several small connection pools: the pool's bookkeeping stays O(1).

httpcore's connection pool (under ``httpx.AsyncHTTPTransport``) walks every connection it
holds twice a request, when the request is sent and when its answer is closed, and asks each
idle one whether the server has hung up (a ``getpeername`` and a ``poll`` through anyio): at 32
requests in flight that is most of the pool's cost. It also closes an idle connection whenever
it holds more connections than ``max_keepalive_connections``, counting the busy ones too (httpx's
default keeps 20), so above 20 requests in flight nearly every request opened a new connection.

:class:`SpreadTransport` keeps ``pools`` transports of ``per_pool`` connections each (made by a
factory, e.g. ``httpx.AsyncHTTPTransport`` with the client's TLS context and proxy) and hands a
request to the first pool with a free connection, so the busy pools stay few and their
connections warm. Each pool walks at most ``per_pool`` connections and keeps them all alive
(they expire after the factory's ``keepalive_expiry``, checked when that pool is next used).
When every connection is busy a request waits in the least busy pool (its ``pool`` timeout
applies). Errors are the pools' own, unchanged; :meth:`aclose` closes every pool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx


class SpreadTransport(httpx.AsyncBaseTransport):
    """``pools`` transports from ``make(per_pool)``; each request on the first with room."""

    def __init__(
        self, make: Callable[[int], httpx.AsyncBaseTransport], pools: int, per_pool: int
    ) -> None:
        if pools < 1 or per_pool < 1:
            raise ValueError("pools and per_pool must be at least 1")
        self.per_pool = per_pool
        self.pools = [make(per_pool) for _ in range(pools)]
        self.busy = [0] * pools
        """Requests each pool holds: sent and not yet answered, or answered and not closed."""

    def _choose(self) -> int:
        """The first pool with a free connection, else the least busy one (it queues)."""
        busy, room = self.busy, self.per_pool
        for index, held in enumerate(busy):
            if held < room:
                return index
        return busy.index(min(busy))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the chosen pool; its place is given back when closed."""
        index = self._choose()
        self.busy[index] += 1
        try:
            response = await self.pools[index].handle_async_request(request)
        except BaseException:
            self.busy[index] -= 1
            raise
        response.stream = _Held(response.stream, self, index)
        return response

    def release(self, index: int) -> None:
        """An answer of pool ``index`` was closed: its connection is free again."""
        self.busy[index] -= 1

    async def aclose(self) -> None:
        """Close every pool (each closes its connections), even if one fails to."""
        failure: BaseException | None = None
        for pool in self.pools:
            try:
                await pool.aclose()
            except Exception as exc:  # the others still close; the first failure is raised
                failure = failure or exc
        if failure is not None:
            raise failure


class _Held(httpx.AsyncByteStream):
    """An answer's body that gives its pool's place back once closed (once)."""

    def __init__(
        self,
        stream: httpx.SyncByteStream | httpx.AsyncByteStream,
        owner: SpreadTransport,
        index: int,
    ) -> None:
        assert isinstance(stream, httpx.AsyncByteStream)
        self._stream, self._owner, self._index = stream, owner, index
        self._open = True

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._open:
                self._open = False
                self._owner.release(self._index)
