"""The pacing hook: a strategy that sees each request before it goes out and each response.

Set ``HttpClient.pacer`` to an object with these two methods to throttle a connector from the
IdP's own rate-limit headers (Okta's ``X-Rate-Limit-Remaining`` / ``-Reset``, for example)
instead of, or on top of, the fixed :class:`~idpsync.http.budget.RequestBudget`. ``before`` may
wait; ``after`` must not (it runs on the request path). ``after`` is called exactly once per
``before``, with ``None`` when no response arrived (network error). Token requests pass through
it too. Retries are separate requests: each one calls ``before`` again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import httpx

    from idpsync.http.endpoint import ConcreteEndpoint


class Pacer(Protocol):
    """Reads response headers to decide when the next request may go out."""

    async def before(self, target: ConcreteEndpoint) -> None:
        """Wait, if needed, until a request for ``target`` may be sent."""

    def after(self, target: ConcreteEndpoint, response: httpx.Response | None) -> None:
        """Record the response (``None``: the request failed without one)."""
