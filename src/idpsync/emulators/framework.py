"""The base every IdP emulator builds on: an ASGI app with recording, latency, limits and faults.

An :class:`Emulator` wraps the IdP-specific Starlette app (``build_app``) in one pipeline:

1. ``/_emulator/…`` control routes pass straight through (never recorded, limited or faulted);
2. the request is matched against the fault plan (every fault counts it);
3. latency is applied (on a path answered *within* it, :meth:`Emulator.within_latency`, e.g.
   Entra's ``$batch``, the next steps run at once and the answer is held until it has passed);
4. ``status`` and ``expired_token`` faults answer at once in the IdP's error format;
5. the IdP's rate limiter charges the request (``charge``) and may answer 429;
6. the app answers; ``reset``/``truncate``/``repeat_page``/``empty_page`` faults rewrite the answer;
7. method, path, query, status, cost and injected fault are recorded in :attr:`requests`.

Use in-process with ``httpx.ASGITransport(app=emulator)`` (or :meth:`Emulator.transport`), or on
a real port with :meth:`Emulator.serve` (uvicorn in a background thread).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from idpsync.emulators.injection import Fault, FaultPlan, Latency, compile_pattern
from idpsync.emulators.tenant import Tenant

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Headers = list[tuple[str, str]]


KEEP_ALIVE_S = 60
"""Seconds an idle kept-alive connection stays open. uvicorn's default (5 s) closed the
connection of a client that spent longer than that parsing a page (msgraph-sdk on a loaded
machine), which then failed with "Server disconnected" on its next request: an artefact of the
emulator, not behaviour of the IdPs' front ends."""


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the emulator answered."""

    method: str
    path: str
    query: str
    """Raw (percent-encoded) query string."""
    status: int
    """HTTP status sent; 0 when the connection was dropped mid-body (``reset`` fault)."""
    cost: float | None = None
    """What the rate limiter charged (``None`` when the path is not limited)."""
    fault: str | None = None
    """Kind of the fault injected into this request, if any."""


class RequestLog:
    """Thread-safe list of :class:`RecordedRequest` with counting helpers."""

    def __init__(self) -> None:
        self._entries: list[RecordedRequest] = []
        self._lock = threading.Lock()

    def add(self, entry: RecordedRequest) -> None:
        """Append one request."""
        with self._lock:
            self._entries.append(entry)

    def clear(self) -> None:
        """Forget every request."""
        with self._lock:
            self._entries.clear()

    def entries(self) -> list[RecordedRequest]:
        """A copy of the log, oldest first."""
        with self._lock:
            return list(self._entries)

    def count(
        self, path: str | None = None, *, method: str | None = None, status: int | None = None
    ) -> int:
        """How many requests match a path pattern (as in faults), a method and a status."""
        regex = compile_pattern(path) if path else None
        return sum(
            1
            for e in self.entries()
            if (regex is None or regex.fullmatch(e.path))
            and (method is None or e.method == method.upper())
            and (status is None or e.status == status)
        )

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __iter__(self) -> Iterator[RecordedRequest]:
        return iter(self.entries())


@dataclass(frozen=True, slots=True)
class Charge:
    """What the IdP's rate limiter says about one request."""

    cost: float
    """Units charged (or that would have been)."""
    headers: Headers
    """Headers to add to the response (e.g. ``x-ms-resource-unit``)."""
    retry_after: int = 0
    """Non-zero: refuse with 429 and this ``Retry-After``."""


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete, simple HTTP answer."""

    status: int
    body: bytes
    headers: Headers


class _Buffered:
    """Collects the inner app's answer so a fault can rewrite it."""

    def __init__(self) -> None:
        self.status = 500
        self.headers: Headers = []
        self.body = b""

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = [
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in message["headers"]
            ]
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")


async def _send_reply(send: Send, reply: Reply, *, more: bool = False) -> None:
    headers = [(k, v) for k, v in reply.headers if k.lower() != "content-length"]
    if not more:
        headers.append(("content-length", str(len(reply.body))))
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    await send({"type": "http.response.start", "status": reply.status, "headers": raw})
    await send({"type": "http.response.body", "body": reply.body, "more_body": more})


class Emulator(ABC):
    """Base of every IdP emulator; subclasses supply the app and the IdP's formats."""

    name = "emulator"
    date_header = True
    """Let uvicorn add ``Date``; an emulator that sends its own (from its clock) sets False."""

    def __init__(self, tenant: Tenant, *, latency: Latency | None = None) -> None:
        self.tenant = tenant
        self.latency = latency or Latency()
        self.faults = FaultPlan()
        self.requests = RequestLog()
        self._app: ASGIApp | None = None

    # ---- what a subclass provides --------------------------------------------------------

    @abstractmethod
    def build_app(self) -> ASGIApp:
        """The IdP's own routes (a Starlette app, typically)."""

    @abstractmethod
    def error_reply(self, status: int, code: str, message: str) -> Reply:
        """An error in the IdP's envelope."""

    @abstractmethod
    def charge(self, method: str, path: str, query: str, headers: dict[str, str]) -> Charge | None:
        """Charge the request to the IdP's rate limiter (``None``: not a limited path)."""

    @abstractmethod
    def throttled_reply(self, charge: Charge) -> Reply:
        """The IdP's answer when the rate limit is exhausted."""

    @abstractmethod
    def expired_token_reply(self) -> Reply:
        """The IdP's answer to an expired access token."""

    @abstractmethod
    def rewrite_page(self, body: Any, url: str, kind: str) -> Any:
        """Rewrite a JSON page for ``repeat_page`` / ``empty_page`` faults."""

    # ---- public API ----------------------------------------------------------------------

    @property
    def app(self) -> ASGIApp:
        """The complete ASGI app (this object itself is one too)."""
        return self

    def inject(self, fault: Fault) -> Fault:
        """Add a fault to the plan; read ``fault.fired`` later to see it happened."""
        return self.faults.add(fault)

    def transport(self) -> httpx.ASGITransport:
        """An in-process httpx transport that talks to this emulator."""
        return httpx.ASGITransport(app=self)

    def warm(self) -> None:
        """Work done once before serving on a port, off every request's time (default: none)."""
        return None

    def within_latency(self, method: str, path: str) -> bool:
        """Whether the answer is made during the latency, not after it (default: no)."""
        return False

    def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ssl_certfile: str | None = None,
        ssl_keyfile: str | None = None,
    ) -> RunningServer:
        """Serve on a real port in a background thread (``port=0`` picks a free one)."""
        self.warm()
        return RunningServer.start(self, host, port, ssl_certfile, ssl_keyfile)

    def serve_forever(self, sock: socket.socket) -> None:
        """Serve on a bound socket in this thread until stopped (the CLI, after :meth:`warm`)."""
        config = uvicorn.Config(
            self,
            log_level="warning",
            lifespan="off",
            date_header=self.date_header,
            timeout_keep_alive=KEEP_ALIVE_S,
        )
        uvicorn.Server(config).run(sockets=[sock])

    # ---- the pipeline --------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point: the pipeline in the module docstring."""
        if self._app is None:
            self._app = self.build_app()
        if scope["type"] != "http" or scope["path"].startswith("/_emulator/"):
            await self._app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        query = scope["query_string"].decode("latin-1")
        fault = self.faults.pick(method, path)
        delay = self.latency.next_delay()
        if delay and self.within_latency(method, path):
            send = _held(send, asyncio.get_running_loop().time() + delay)
        elif delay:
            await asyncio.sleep(delay)
        kind = fault.kind if fault else None
        try:
            status, cost = await self._handle(scope, receive, send, fault)
        except httpx.RemoteProtocolError:  # an injected reset: recorded with status 0
            self.requests.add(RecordedRequest(method, path, query, 0, None, kind))
            raise
        self.requests.add(RecordedRequest(method, path, query, status, cost, kind))

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, fault: Fault | None
    ) -> tuple[int, float | None]:
        assert self._app is not None
        if fault is not None and fault.kind == "status":
            reply = self.error_reply(fault.status, "serviceNotAvailable", "Injected failure.")
            await _send_reply(send, reply)
            return reply.status, None
        if fault is not None and fault.kind == "expired_token":
            reply = self.expired_token_reply()
            await _send_reply(send, reply)
            return reply.status, None
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        charge = self.charge(
            scope["method"], scope["path"], scope["query_string"].decode(), headers
        )
        if charge is not None and charge.retry_after:
            reply = self.throttled_reply(charge)
            await _send_reply(send, reply)
            return reply.status, charge.cost
        cost = charge.cost if charge else None
        extra = charge.headers if charge else []
        buffered = _Buffered()
        await self._app(scope, receive, buffered.send)
        reply = Reply(buffered.status, buffered.body, buffered.headers + extra)
        if fault is not None:
            return await self._faulty(send, reply, fault, scope), cost
        await _send_reply(send, reply)
        return reply.status, cost

    async def _faulty(self, send: Send, reply: Reply, fault: Fault, scope: Scope) -> int:
        if fault.kind == "reset":
            await _send_reply(
                send,
                Reply(reply.status, reply.body[: len(reply.body) // 2], reply.headers),
                more=True,
            )
            raise httpx.RemoteProtocolError("emulator: connection reset mid-body (injected)")
        if fault.kind == "truncate":
            await _send_reply(
                send, Reply(reply.status, reply.body[: len(reply.body) // 2], reply.headers)
            )
            return reply.status
        if reply.status == 200 and fault.kind in ("repeat_page", "empty_page"):
            url = _request_url(scope)
            body = self.rewrite_page(json.loads(reply.body), url, fault.kind)
            reply = Reply(200, json.dumps(body).encode(), reply.headers)
        await _send_reply(send, reply)
        return reply.status


def _held(send: Send, until: float) -> Send:
    """``send`` that lets nothing out before the event loop's clock reaches ``until``."""

    async def held(message: Message) -> None:
        await asyncio.sleep(max(0.0, until - asyncio.get_running_loop().time()))
        await send(message)

    return held


def _request_url(scope: Scope) -> str:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    host = headers.get("host", "localhost")
    query = scope["query_string"].decode("latin-1")
    path = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
    return f"{scope['scheme']}://{host}{path}" + (f"?{query}" if query else "")


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (``port=0``: any free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit this: no Nagle delay between the header and body writes.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    # Listen at once: a client that reads the printed address may connect before the server
    # loop starts; the backlog holds it until then instead of refusing it.
    sock.listen(2048)
    return sock


class _ThreadServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # signals belong to the main thread
        return None

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # A TLS connection's close waits for the peer's close_notify; abort what is left so no
        # transport outlives this thread's event loop.
        transports = [c.transport for c in self.server_state.connections]
        await super().shutdown(sockets)
        for transport in transports:
            transport.abort()
        await asyncio.sleep(0.05)


@dataclass
class RunningServer:
    """An emulator served by uvicorn in a background thread; use as a context manager."""

    url: str
    """``http(s)://host:port`` of the server (no trailing slash)."""
    port: int
    server: uvicorn.Server
    thread: threading.Thread
    sock: socket.socket

    @classmethod
    def start(
        cls,
        emulator: Emulator,
        host: str,
        port: int,
        certfile: str | None,
        keyfile: str | None,
    ) -> RunningServer:
        """Bind, start the thread and wait until uvicorn accepts connections."""
        sock = bind(host, port)
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            emulator,
            log_level="critical",
            lifespan="off",
            access_log=False,
            timeout_keep_alive=KEEP_ALIVE_S,
            ssl_certfile=certfile,
            ssl_keyfile=keyfile,
            timeout_graceful_shutdown=1,
            date_header=emulator.date_header,
        )
        server = _ThreadServer(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        for _ in range(500):
            if server.started or not thread.is_alive():
                break
            threading.Event().wait(0.01)
        if not server.started:
            raise RuntimeError(f"emulator {emulator.name} did not start on {host}:{port}")
        scheme = "https" if certfile else "http"
        return cls(f"{scheme}://{host}:{port}", port, server, thread, sock)

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        self.server.should_exit = True
        self.thread.join(timeout=5)
        self.sock.close()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
