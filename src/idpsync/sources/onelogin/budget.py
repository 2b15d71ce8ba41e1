"""The account's hourly API budget, kept by a pacer every request of a read goes through.

OneLogin allows an account a number of calls an hour (5,000 by default) for **all** its
integrations, and reports what is left on every answer (``X-RateLimit-Limit``, ``-Remaining``,
``-Reset``). :class:`CallPacer` plugs into the HTTP client (:attr:`idpsync.http.HttpClient.pacer`)
and, while a read runs (:meth:`CallPacer.watch`):

* refuses a call when the remaining calls, less those in flight, are at ``min_remaining_calls``
  or below, before anything is sent (:class:`BudgetStop`);
* reads the budget from every answer, including error answers and retried ones;
* ends the read at once on a 429 (the budget is spent): no retry burst into an empty budget.

The token request is not counted against the floor. ``idpsync check`` probes run outside a
read and are not held back by the floor.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from idpsync.errors import ShapeError, SourceError
from idpsync.http.errors import HttpError
from idpsync.http.shape import json_object
from idpsync.sources.onelogin.delta import server_time
from idpsync.sources.onelogin.endpoints import RATE_LIMIT

if TYPE_CHECKING:
    import httpx

    from idpsync.http.client import HttpClient
    from idpsync.http.endpoint import ConcreteEndpoint
    from idpsync.http.stats import RequestStats

log = logging.getLogger("idpsync.sources.onelogin.budget")

SAME_HOUR_SLACK = 60.0
"""Budget readings whose reset times differ by less than this (seconds) are from one hour."""


class BudgetStop(SourceError):
    """The hourly budget is at the configured floor (or exhausted): stop reading cleanly."""


@dataclass
class CallBudget:
    """The account's hourly budget as the last response told it (``X-RateLimit-*``).

    ``reset`` is OneLogin's "seconds left in the hour"; :attr:`reset_at` turns it into a time.
    With listings running side by side, answers can arrive out of order: within one hour a
    reading never raises ``remaining`` again, and the calls still in flight count as spent.
    """

    minimum: int
    """Stop when the remaining calls are at or below this (``min_remaining_calls``)."""
    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None
    in_flight: int = 0
    """Calls sent and not answered yet (the pacer counts them around each request)."""

    def observe_headers(self, headers: Mapping[str, str], now: float | None = None) -> None:
        """Update from a response's ``X-RateLimit-Limit/Remaining/Reset`` headers."""
        self.observe(
            headers.get("x-ratelimit-limit"),
            headers.get("x-ratelimit-remaining"),
            headers.get("x-ratelimit-reset"),
            now,
        )

    def observe(self, limit: object, remaining: object, reset: object, now: float | None) -> None:
        """Update from the three values (any may be missing)."""
        moment = time.time() if now is None else now
        # Seconds to the hourly reset; a bogus huge value is capped at a day.
        reset_at = moment + min(int(str(reset)), 86400) if _is_int(reset) else None
        if _is_int(limit):
            self.limit = int(str(limit))
        if _is_int(remaining):
            value = int(str(remaining))
            if self.remaining is not None and self._same_hour(reset_at):
                value = min(value, self.remaining)  # a late answer to an earlier call
            self.remaining = value
        if reset_at is not None:
            self.reset_at = reset_at

    def _same_hour(self, reset_at: float | None) -> bool:
        """Whether a reading resetting at ``reset_at`` is from the hour already known."""
        if reset_at is None or self.reset_at is None:
            return False
        return abs(reset_at - self.reset_at) < SAME_HOUR_SLACK

    @property
    def low(self) -> bool:
        """Whether the remaining calls, less those in flight, are at or below the minimum."""
        return self.remaining is not None and self.remaining - self.in_flight <= self.minimum

    def message(self, before: str) -> str:
        """The administrator's message when the sync stops to spare the budget."""
        left = "none" if not self.remaining else f"only {self.remaining}"
        of = f" of {self.limit}" if self.limit else ""
        return (
            f"OneLogin API budget: {left}{of} calls left this hour, at or below "
            f"min_remaining_calls = {self.minimum}; stopped before {before} to leave them to "
            f"other integrations of the account. The budget resets {self.reset_text()}. "
            "Nothing was removed; the next sync after the reset reads what this one could not"
        )

    def shortfall(self, calls: int, before: str) -> str:
        """The message when a listing needs more calls than are left above the floor."""
        left = self.remaining or 0
        return (
            f"OneLogin API budget: {before} needs {calls} more calls, but only {left} are left "
            f"this hour and min_remaining_calls = {self.minimum} are kept for other "
            f"integrations of the account; stopped before spending any. The budget resets "
            f"{self.reset_text()}. Nothing was removed; the next sync after the reset reads "
            "what this one could not"
        )

    def reset_text(self, now: float | None = None) -> str:
        """``at 17:45 UTC (in 23 min)`` or ``within the hour``."""
        if self.reset_at is None:
            return "within the hour"
        moment = datetime.fromtimestamp(self.reset_at, UTC)
        minutes = max(0, round((self.reset_at - (time.time() if now is None else now)) / 60))
        return f"at {moment:%H:%M} UTC (in {minutes} min)"


def _is_int(value: object) -> bool:
    # ASCII only: "²".isdigit() is true, and int("²") raises.
    return value is not None and re.fullmatch(r"-?[0-9]{1,18}", str(value).strip()) is not None


class CallPacer:
    """Holds a read to the hourly budget (see the module docstring)."""

    def __init__(self, budget: CallBudget, stats: RequestStats) -> None:
        self.budget = budget
        self.stats = stats
        """The client's counters (a 429 counts as throttled)."""
        self.watching = False
        """Whether a read is running: only then does the floor hold calls back."""
        self.first_answer: datetime | None = None
        """The server's ``Date`` of the first answer of the current read (``None``: none yet)."""

    @contextmanager
    def watch(self) -> Iterator[None]:
        """Apply the budget to the calls made inside (one read, or one single-user fetch)."""
        self.watching, self.first_answer = True, None
        try:
            yield
        finally:
            self.watching = False

    def _counts(self, target: ConcreteEndpoint) -> bool:
        return self.watching and not target.endpoint.token

    async def before(self, target: ConcreteEndpoint) -> None:
        """Refuse the call when the budget is at its floor; else count it as in flight."""
        if not self._counts(target):
            return
        if self.budget.low:
            raise BudgetStop(self.budget.message(target.endpoint.label))
        self.budget.in_flight += 1

    def after(self, target: ConcreteEndpoint, response: httpx.Response | None) -> None:
        """Read the budget from the answer; a 429 ends the read (:class:`BudgetStop`)."""
        if not self._counts(target):
            return
        self.budget.in_flight -= 1
        if response is None:
            return
        self.budget.observe_headers(response.headers)
        if self.first_answer is None:
            self.first_answer = server_time(response.headers.get("date"))
        if response.status_code == 429:
            self.stats.throttled += 1
            self.budget.remaining = 0
            message = self.budget.message(target.endpoint.label)
            raise BudgetStop(message + " (OneLogin answered 429)")


def reserve(pacer: CallPacer, calls: int, before: str) -> None:
    """Refuse to start ``calls`` more calls of one listing when the budget cannot cover them.

    A listing stopped at the floor halfway is dropped whole, so its calls would be spent for
    nothing: the pages read by number are counted first (the calls in flight as spent).
    """
    budget = pacer.budget
    if not pacer.watching or budget.remaining is None:
        return
    if calls > budget.remaining - budget.in_flight - budget.minimum:
        raise BudgetStop(budget.shortfall(calls, before))


async def preflight(http: HttpClient, pacer: CallPacer) -> None:
    """``GET /auth/rate_limit``: learn the budget before the first listing of a read.

    If the endpoint cannot be read (other than for the budget), the read goes on: every
    API answer's ``X-RateLimit-*`` headers keep the budget known from the first page on.
    """
    budget = pacer.budget
    try:
        body = await http.get_json(RATE_LIMIT)
        data = json_object(body, RATE_LIMIT.label).get("data") or {}
    except (HttpError, ShapeError) as exc:
        log.warning("could not read the API budget first (%s); reading on", exc)
        pacer.stats.extra["rate_limit_preflight"] = "failed"
        return
    if isinstance(data, dict):
        budget.observe(
            data.get("X-RateLimit-Limit"),
            data.get("X-RateLimit-Remaining"),
            data.get("X-RateLimit-Reset"),
            None,
        )
    if budget.low:
        raise BudgetStop(budget.message("the first listing"))
