"""The client's connections: reused at 32 in flight, spread over small pools, all closed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpcore
import httpx
import pytest

from idpsync.http import Endpoint, HttpClient, build_http_client
from idpsync.http.settings import HttpSettings
from idpsync.http.spread import SpreadTransport
from idpsync.http.transport import PER_POOL

pytestmark = pytest.mark.asyncio

PING = Endpoint("ping", "GET", "/ping", "answer at once")
IN_FLIGHT = 32


class KeepAliveServer:
    """An HTTP/1.1 server that keeps its connections open; counts them, opened and closed."""

    def __init__(self, delay: float = 0.005) -> None:
        self.delay = delay
        self.opened = 0
        self.closed = 0
        self.busy = 0
        self.most_busy = 0
        self.server: asyncio.Server | None = None
        self.url = ""

    async def __aenter__(self) -> KeepAliveServer:
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.opened += 1
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                self.busy += 1
                self.most_busy = max(self.most_busy, self.busy)
                await asyncio.sleep(self.delay)
                self.busy -= 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.closed += 1
            writer.close()

    async def closed_by_client(self, expected: int) -> bool:
        for _ in range(200):
            if self.closed >= expected:
                return True
            await asyncio.sleep(0.01)
        return False


def client(url: str) -> HttpClient:
    return build_http_client(HttpSettings(concurrency=IN_FLIGHT, max_attempts=1), base_url=url)


async def many(http: HttpClient, n: int) -> None:
    answers = await asyncio.gather(*(http.get_json(PING, authenticate=False) for _ in range(n)))
    assert answers == [[]] * n


async def test_connections_are_reused_at_32_in_flight_and_all_closed_with_the_client() -> None:
    async with KeepAliveServer() as server:
        http = client(server.url)
        await many(http, 10 * IN_FLIGHT)
        assert server.most_busy == IN_FLIGHT  # the requests did overlap
        assert server.opened <= IN_FLIGHT
        # httpx's own pool closed an idle connection whenever it held more than 20 connections,
        # busy ones counted (here 12 of them; 1,806 for 2,000 requests against the emulator).
        assert server.closed == 0
        await http.aclose()
        assert await server.closed_by_client(server.opened)


async def test_bookkeeping_per_request_does_not_grow_with_idle_connections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checks = 0
    has_expired = httpcore.AsyncHTTPConnection.has_expired

    def counted(connection: httpcore.AsyncHTTPConnection) -> bool:
        nonlocal checks
        checks += 1
        return has_expired(connection)

    monkeypatch.setattr(httpcore.AsyncHTTPConnection, "has_expired", counted)
    async with KeepAliveServer(delay=0.02) as server:
        http = client(server.url)
        await many(http, IN_FLIGHT)  # many connections open, then idle
        checks = 0
        for _ in range(10):
            await http.get_json(PING, authenticate=False)
        await http.aclose()
    # httpcore asks every connection of the pool whether it expired, when the request is sent
    # and when its answer is closed: one pool of 20 idle connections did 40 checks a request.
    assert checks <= 10 * 2 * PER_POOL


class Recorded(httpx.AsyncBaseTransport):
    """A fake pool: answers when ``gate`` is set, records what it held and whether it closed."""

    def __init__(self, gate: asyncio.Event, fail: bool = False) -> None:
        self.gate, self.fail = gate, fail
        self.held = 0
        self.most = 0
        self.closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.held += 1
        self.most = max(self.most, self.held)
        try:
            await self.gate.wait()
            if request.url.path == "/broken":
                raise httpx.ConnectError("refused", request=request)
        except BaseException:
            self.held -= 1
            raise
        return httpx.Response(200, stream=Body(self))

    async def aclose(self) -> None:
        self.closed = True
        if self.fail:
            raise RuntimeError("cannot close")


class Body(httpx.AsyncByteStream):
    def __init__(self, pool: Recorded) -> None:
        self.pool = pool

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"[]"

    async def aclose(self) -> None:
        self.pool.held -= 1


def spread(gate: asyncio.Event, pools: int = 3, per_pool: int = 2) -> SpreadTransport:
    return SpreadTransport(lambda size: Recorded(gate), pools, per_pool)


def made(transport: SpreadTransport) -> list[Recorded]:
    found = [pool for pool in transport.pools if isinstance(pool, Recorded)]
    assert len(found) == len(transport.pools)
    return found


async def test_requests_fill_the_first_pools_and_queue_in_the_least_busy() -> None:
    gate = asyncio.Event()
    transport = spread(gate)
    async with httpx.AsyncClient(transport=transport) as http:
        sending = [asyncio.create_task(http.get("http://idp.test/")) for _ in range(5)]
        await asyncio.sleep(0.01)
        assert transport.busy == [2, 2, 1]
        assert [p.held for p in made(transport)] == [2, 2, 1]
        sending += [asyncio.create_task(http.get("http://idp.test/")) for _ in range(3)]
        await asyncio.sleep(0.01)
        assert transport.busy == [3, 3, 2]  # all full: each waits in the least busy pool
        gate.set()
        assert [r.status_code for r in await asyncio.gather(*sending)] == [200] * 8
        assert transport.busy == [0, 0, 0]
        assert [p.held for p in made(transport)] == [0, 0, 0]
        await http.get("http://idp.test/")
        assert [p.most for p in made(transport)] == [3, 3, 2]


async def test_a_failed_or_cancelled_request_gives_its_place_back() -> None:
    gate = asyncio.Event()
    transport = spread(gate, pools=1, per_pool=4)
    async with httpx.AsyncClient(transport=transport) as http:
        waiting = asyncio.create_task(http.get("http://idp.test/"))
        await asyncio.sleep(0.01)
        assert transport.busy == [1]
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert transport.busy == [0]
        gate.set()
        with pytest.raises(httpx.ConnectError):
            await http.get("http://idp.test/broken")
        assert transport.busy == [0]
        async with http.stream("GET", "http://idp.test/") as response:
            assert transport.busy == [1]
            await response.stream.aclose()  # type: ignore[union-attr]
            await response.stream.aclose()  # type: ignore[union-attr]  # released once
        assert transport.busy == [0]


async def test_closing_closes_every_pool_even_if_one_fails() -> None:
    gate = asyncio.Event()
    pools: list[Recorded] = []

    def make(size: int) -> Recorded:
        pools.append(Recorded(gate, fail=not pools))
        return pools[-1]

    transport = SpreadTransport(make, 3, 2)
    with pytest.raises(RuntimeError, match="cannot close"):
        await transport.aclose()
    assert [p.closed for p in pools] == [True, True, True]


async def test_a_pool_and_a_connection_at_least() -> None:
    with pytest.raises(ValueError):
        SpreadTransport(lambda size: httpx.AsyncHTTPTransport(), 0, 4)
