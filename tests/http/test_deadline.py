"""``http.request_deadline``: a server that trickles its answer cannot hold a sync forever.

httpx's ``read_timeout`` bounds each read, so a body sent one byte every 1.5 s never trips it.
The deadline bounds the whole request; passing it is a transient ``Timeout`` (retried within
the retry budget) that names the endpoint and the host.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from idpsync.http import build_http_client, errors
from idpsync.http.settings import HttpSettings
from tests.http.conftest import SECRET, assert_clean
from tests.http.demo_source import DemoSource
from tests.http.idp import FakeIdp
from tests.http.servers import LocalServer

pytestmark = pytest.mark.asyncio


class Trickler:
    """Answers every request with a 200 whose 100-byte body comes one byte per 1.5 s."""

    def __init__(self) -> None:
        self.requests = 0
        self.port = 0
        self.tasks: set[asyncio.Task[None]] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            await reader.readuntil(b"\r\n\r\n")
            self.requests += 1
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n"
            writer.write(head + b"\r\n")
            for _ in range(100):
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(1.5)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.transport.abort()
            self.tasks.discard(task)


@pytest.fixture
async def trickler() -> AsyncIterator[Trickler]:
    trickle = Trickler()
    server = await asyncio.start_server(trickle.handle, "127.0.0.1", 0)
    trickle.port = server.sockets[0].getsockname()[1]
    yield trickle
    server.close()
    for task in list(trickle.tasks):  # still dripping: end them, closing their sockets
        task.cancel()
    await asyncio.gather(*trickle.tasks, return_exceptions=True)
    await server.wait_closed()


async def test_a_trickling_answer_ends_at_the_deadline_and_is_retried(trickler: Trickler) -> None:
    settings = HttpSettings(max_attempts=2, read_timeout=5.0, request_deadline=1.0)
    url = f"http://127.0.0.1:{trickler.port}"
    async with LocalServer(FakeIdp()) as idp:
        source = DemoSource(build_http_client(settings, base_url=url), idp.url, "app", SECRET)
        with pytest.raises(errors.Timeout) as info:
            # The outer bound only keeps a regression from hanging the suite (150 s a try).
            await asyncio.wait_for(source.snapshot(), 30)
        await source.aclose()
    error = info.value
    assert trickler.requests == 2  # transient: retried within max_attempts
    assert error.kind == "transient" and error.attempts == 2
    text = str(error)
    assert text.startswith(f"GET /v1/users on 127.0.0.1:{trickler.port}: no complete answer")
    assert "within 1 s from 127.0.0.1" in text
    assert "http.request_deadline" in error.remedy
    assert_clean(text)


async def test_the_deadline_is_a_setting_with_a_default() -> None:
    assert HttpSettings().request_deadline == 120.0
    with pytest.raises(ValueError, match="request_deadline"):
        HttpSettings(request_deadline=0)
