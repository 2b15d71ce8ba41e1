"""Counters of one client's requests, filled by :class:`~idpsync.http.client.HttpClient`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RequestStats:
    """Counters a connector reports after a run (the HTTP layer fills the request counters)."""

    requests: int = 0
    """HTTP requests sent."""
    retries: int = 0
    """Requests repeated after a failure."""
    throttled: int = 0
    """Responses that said to slow down (429 and equivalents)."""
    bytes_received: int = 0
    """Response body bytes."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Connector-specific counters."""
