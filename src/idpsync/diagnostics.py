"""Connectivity diagnosis: ``idpsync endpoints`` and ``idpsync check``.

``endpoints`` lists what a connector must reach; ``check`` finds out whether it can.

``check`` probes, in order, for every host the source's endpoint table names: **dns** (the
host, or the proxy when one is used), **tcp** (connect), **proxy** (``CONNECT host:port``
through the proxy, or "direct"), **tls** (handshake and certificate verification with the
configured CA bundle). Then it runs the source's own :class:`~idpsync.sources.base.Probe`
steps: the **token** request and one minimal **read** of every endpoint the configuration
uses. Each step yields a :class:`StepResult` with its measured time and, on failure, the
cause and a remedy. A failed network step skips the rest of that host's network steps.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from idpsync.auth.base import CachedTokenProvider
from idpsync.check_reads import ProbeSkipped
from idpsync.config import ConnectorSettings, LoadedConfig
from idpsync.errors import SourceError
from idpsync.http.client import HttpClient
from idpsync.http.endpoint import ConcreteEndpoint, Endpoint
from idpsync.http.errors import HttpError
from idpsync.http.redact import redact_url, scrub
from idpsync.http.settings import HttpSettings
from idpsync.http.translate_network import network_error
from idpsync.http.translate_status import not_json
from idpsync.http.transport import proxy_for, ssl_context
from idpsync.sources.base import Probe, Source

Status = Literal["ok", "failed", "skipped"]


@dataclass(frozen=True, slots=True)
class StepResult:
    """One line of ``idpsync check``."""

    step: str
    """``dns``, ``tcp``, ``proxy``, ``tls``, ``token``, ``read`` or ``file``."""
    target: str
    """``host:port``, an endpoint (``GET /v1.0/users``) or a path."""
    status: Status
    seconds: float
    detail: str = ""
    """On success, what was found (address, TLS version, token lifetime, items read)."""
    cause: str | None = None
    remedy: str | None = None

    @property
    def ok(self) -> bool:
        """True when the step passed."""
        return self.status == "ok"

    def as_json(self) -> dict[str, Any]:
        """The result as a JSON-ready dict."""
        return {**asdict(self), "seconds": round(self.seconds, 4)}


Report = Callable[[StepResult], None]


def for_check(
    config: LoadedConfig, name: str, retries: int = 0
) -> tuple[LoadedConfig, ConnectorSettings]:
    """The configuration with connector ``name`` making ``retries + 1`` attempts per request.

    A check reports what is wrong at once instead of retrying a broken path for a minute. The
    connector stays in the configuration under its name (a source may look itself up there).
    """
    connector = config.connector(name)
    http = connector.source.http.model_copy(update={"max_attempts": retries + 1})
    source = connector.source.model_copy(update={"http": http})
    changed = connector.model_copy(update={"source": source})
    connectors = {**config.settings.connectors, name: changed}
    settings = config.settings.model_copy(update={"connectors": connectors})
    return LoadedConfig(settings, config.path), changed


@contextmanager
def retries_kept_aside() -> Iterator[list[str]]:
    """Collect the HTTP layer's "retrying …" lines instead of printing them between steps."""
    logger = logging.getLogger("idpsync.http")
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING:
                lines.append(record.getMessage())

    handler, propagate = Keep(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _ignore(_result: StepResult) -> None:
    """Default report callback."""


def token_probe(provider: CachedTokenProvider, endpoint: Endpoint) -> Probe:
    """The ``token`` step for a source's OAuth token provider (a fresh token is requested)."""

    async def run() -> str:
        token = await provider.refresh()
        return f"token obtained, valid {max(0, int(token.expires_at - time.time()))} s"

    return Probe("token", endpoint.label, run)


def read_probe(
    http: HttpClient,
    endpoint: Endpoint,
    values: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> Probe:
    """A ``read`` step: one minimal request (e.g. ``params={"$top": "1"}``) for ``endpoint``."""

    async def run() -> str:
        response = await http.request(endpoint, values, params=params)
        if (foreign := not_json(response, http.target(endpoint, values))) is not None:
            raise foreign
        return f"HTTP {response.status_code}, {len(response.content)} bytes"

    return Probe("read", endpoint.label, run)


def hosts(source: Source) -> list[ConcreteEndpoint]:
    """One endpoint per distinct (scheme, host, port), in table order."""
    seen: dict[tuple[str, str, int], ConcreteEndpoint] = {}
    for target in source.endpoints():
        seen.setdefault((target.scheme, target.host, target.port), target)
    return list(seen.values())


async def check_source(
    source: Source, settings: HttpSettings, report: Report = _ignore
) -> list[StepResult]:
    """Run every step for the source; ``report`` receives each result as it is known."""
    results: list[StepResult] = []

    def add(result: StepResult) -> None:
        results.append(result)
        report(result)

    for target in hosts(source):
        for result in await _check_host(target, settings):
            add(result)
    for probe in source.probes():
        add(await _run_probe(probe))
    return results


async def _run_probe(probe: Probe) -> StepResult:
    start = time.perf_counter()
    try:
        detail = await probe.run()
    except ProbeSkipped as exc:
        return StepResult(
            probe.step, probe.target, "skipped", time.perf_counter() - start, str(exc)
        )
    except HttpError as exc:
        return StepResult(
            probe.step,
            probe.target,
            "failed",
            time.perf_counter() - start,
            cause=f"{exc.endpoint_label} on {exc.host}: {exc.cause}",
            remedy=exc.remedy,
        )
    except SourceError as exc:
        return StepResult(
            probe.step, probe.target, "failed", time.perf_counter() - start, cause=scrub(str(exc))
        )
    return StepResult(probe.step, probe.target, "ok", time.perf_counter() - start, scrub(detail))


class _Failed(Exception):
    """A network step failed; carries the cause and remedy."""

    def __init__(self, cause: str, remedy: str) -> None:
        super().__init__(cause)
        self.cause, self.remedy = cause, remedy


async def _check_host(target: ConcreteEndpoint, settings: HttpSettings) -> list[StepResult]:
    proxy = proxy_for(target.url, settings)
    via = _proxy_target(proxy) if proxy else target
    state: dict[str, Any] = {}
    steps: list[tuple[str, str, Callable[[], Any]]] = [
        ("dns", via.where, lambda: _dns(via, settings, state)),
        ("tcp", via.where, lambda: _tcp(via, settings, state)),
        ("proxy", target.where, lambda: _proxy(target, proxy, settings, state)),
    ]
    if target.scheme == "https":
        steps.append(("tls", target.where, lambda: _tls(target, settings, state)))
    results: list[StepResult] = []
    failed = False
    try:
        for step, where, run in steps:
            if failed:
                results.append(StepResult(step, where, "skipped", 0.0, "an earlier step failed"))
                continue
            start = time.perf_counter()
            try:
                detail = await run()
                results.append(StepResult(step, where, "ok", time.perf_counter() - start, detail))
            except _Failed as exc:
                failed = True
                results.append(
                    StepResult(
                        step,
                        where,
                        "failed",
                        time.perf_counter() - start,
                        cause=exc.cause,
                        remedy=exc.remedy,
                    )
                )
    finally:
        writer = state.get("writer")
        if writer is not None:
            writer.close()
    return results


def _proxy_target(proxy: str) -> ConcreteEndpoint:
    url = proxy if "://" in proxy else f"http://{proxy}"
    return ConcreteEndpoint(Endpoint("proxy", "CONNECT", url, "HTTP proxy"), url)


def _failed(exc: BaseException, target: ConcreteEndpoint, timeout: float, what: str) -> _Failed:
    if isinstance(exc, TimeoutError) and what == "TLS handshake":
        return _Failed(
            f"TLS handshake: {target.where} accepted the connection but sent nothing within "
            f"{timeout:g} s",
            "a firewall or proxy that accepts connections and then drops the traffic looks like "
            f"this (the IdP answers a handshake at once): check that the firewall allows outbound "
            f"HTTPS to {target.host}:{target.port}, or set http.proxy / HTTPS_PROXY if only a "
            "proxy may go out",
        )
    if isinstance(exc, TimeoutError):
        return _Failed(
            f"{what}: no answer from {target.where} within {timeout:g} s",
            f"check that the firewall allows outbound traffic to "
            f"{target.host}:{target.port}; a silently dropping firewall looks "
            "like this",
        )
    error = network_error(exc, target, None, 1)
    remedy = error.remedy
    if target.endpoint.name == "proxy":
        remedy = f"check http.proxy / HTTPS_PROXY ({redact_url(target.url)}); " + remedy
    return _Failed(error.cause, remedy)


async def _dns(target: ConcreteEndpoint, settings: HttpSettings, state: dict[str, Any]) -> str:
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM),
            settings.connect_timeout,
        )
    except (OSError, TimeoutError) as exc:
        raise _failed(exc, target, settings.connect_timeout, "DNS lookup") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    state["address"] = addresses[0]
    return f"{target.host} resolves to {', '.join(addresses[:4])}"


async def _tcp(target: ConcreteEndpoint, settings: HttpSettings, state: dict[str, Any]) -> str:
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(state["address"], target.port), settings.connect_timeout
        )
    except (OSError, TimeoutError) as exc:
        raise _failed(exc, target, settings.connect_timeout, "TCP connect") from exc
    state["reader"], state["writer"] = reader, writer
    return f"connected to {state['address']}:{target.port}"


async def _proxy(
    target: ConcreteEndpoint, proxy: str | None, settings: HttpSettings, state: dict[str, Any]
) -> str:
    if not proxy:
        return "not used: direct connection (no http.proxy, HTTPS_PROXY, or NO_PROXY matches)"
    shown = redact_url(proxy)
    reader: asyncio.StreamReader = state["reader"]
    writer: asyncio.StreamWriter = state["writer"]
    authority = f"{target.host}:{target.port}"
    lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if parts.username:
        raw = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        lines.append(f"Proxy-Authorization: Basic {base64.b64encode(raw).decode()}")
    try:
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), settings.read_timeout)
    except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        raise _Failed(
            f"the proxy {shown} closed or did not answer the CONNECT request",
            "check that http.proxy / HTTPS_PROXY points at an HTTP proxy",
        ) from exc
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1").strip()
    fields = status_line.split(" ", 2)
    code = fields[1] if len(fields) > 1 else "?"
    if code == "407":
        raise _Failed(
            f"the proxy {shown} requires authentication (407)",
            "put the proxy user and password in the proxy URL (http://USER:PASSWORD@host:port)",
        )
    if not code.startswith("2"):
        raise _Failed(
            f"the proxy {shown} refused CONNECT to {authority} ({status_line})",
            f"ask the proxy administrator to allow CONNECT to {authority}, or set "
            f"NO_PROXY={target.host} if it can be reached directly",
        )
    return f"tunnel to {authority} through {shown}"


async def _tls(target: ConcreteEndpoint, settings: HttpSettings, state: dict[str, Any]) -> str:
    writer: asyncio.StreamWriter = state["writer"]
    try:
        await asyncio.wait_for(
            writer.start_tls(ssl_context(settings), server_hostname=target.host),
            settings.connect_timeout,
        )
    except (OSError, TimeoutError) as exc:
        raise _failed(exc, target, settings.connect_timeout, "TLS handshake") from exc
    ssl_object = writer.get_extra_info("ssl_object")
    version = ssl_object.version() if ssl_object else "TLS"
    cert = ssl_object.getpeercert() if ssl_object else None
    verified = "certificate verified" if settings.verify_tls else "verification OFF"
    until = f", valid until {cert['notAfter']}" if cert and cert.get("notAfter") else ""
    return f"{version}, {verified}{until}"
