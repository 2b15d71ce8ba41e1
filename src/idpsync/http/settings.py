"""The ``http`` table of a connector or target: how its HTTP client reaches the other side."""

from __future__ import annotations

from pydantic import Field

from idpsync.config_urls import ProxyUrlText
from idpsync.settings import Strict


class HttpSettings(Strict):
    """How the connector's HTTP client reaches the IdP."""

    connect_timeout: float = Field(10.0, gt=0)
    """Seconds to wait for a TCP/TLS connection."""
    read_timeout: float = Field(60.0, gt=0)
    """Seconds to wait for response data."""
    request_deadline: float = Field(120.0, gt=0)
    """Seconds one request may take in all (connect, send, read the whole body)."""
    proxy: ProxyUrlText | None = None
    """Proxy URL (``http://host:port``); by default ``HTTPS_PROXY``/``NO_PROXY`` are honoured."""
    ca_bundle: str | None = None
    """Path of a PEM file of extra trusted CA certificates (e.g. a TLS-inspecting proxy's)."""
    verify_tls: bool = True
    """TLS certificate verification; only for a lab, never in production."""
    max_attempts: int = Field(6, ge=1, le=50)
    """Attempts per request, including the first."""
    max_retry_seconds: float = Field(300.0, gt=0)
    """Total time a request may spend waiting for retries."""
    requests_per_second: float | None = Field(None, gt=0)
    """Client-side request budget; ``None`` takes the source's own default."""
    concurrency: int | None = Field(None, ge=1, le=256)
    """Requests in flight at once; ``None`` takes the source's own default."""
