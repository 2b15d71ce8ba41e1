"""The seam between the HTTP client and a token flow.

The client asks its token flow for the ``Authorization`` header of each request and tells it
when a token was refused (a 401), so the flow fetches a new one once. The flows themselves
(client credentials, JWT bearer, refresh tokens…) live in :mod:`idpsync.auth` and satisfy this
protocol; the HTTP layer knows nothing else of them.
"""

from __future__ import annotations

from typing import Protocol


class TokenProvider(Protocol):
    """What :class:`~idpsync.http.HttpClient` needs from a token flow."""

    async def authorization(self) -> str:
        """The ``Authorization`` header value for the next request (a valid token)."""
        ...

    async def invalidate(self, rejected: str) -> None:
        """``rejected`` got a 401: drop it so the next :meth:`authorization` fetches a new one."""
        ...
