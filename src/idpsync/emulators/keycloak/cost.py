"""A server-cost model for the Keycloak emulator: what an answer costs the server to produce.

Keycloak has no rate limit; its speed is the server's and its database's. Two costs dominate
a listing, and both are modelled (on top of the framework's per-request latency)::

    delay = rows × row_cost + first × offset_cost

``rows`` is the number of representations rendered (a single object counts one, a count
none) and ``first`` the offset asked for: the database reads and skips that many rows before
the page (the group-members listing even loads them, keycloak/keycloak#32761). The delay is
slept (``asyncio.sleep``), never burnt on the CPU, so concurrent requests overlap as they do
on a real server with spare threads.

Defaults of the ``idpsync emulate keycloak`` command (the Python constructor's default is no
cost, so unit tests do not sleep), both [issue]-derived estimates:

- :data:`DEFAULT_ROW_US` = 25 µs a row: ``GET /users?max=100000&briefRepresentation=true``
  answered in 2.5 s (https://github.com/keycloak/keycloak/issues/26884).
- :data:`DEFAULT_OFFSET_US` = 10 µs a skipped row: deep offsets degrade
  (https://github.com/keycloak/keycloak/issues/32761: the members endpoint loads all
  ``first + max`` rows; #44935: a 4,000-member LDAP group's last page took 41 s against 895 ms
  for the first; #44860: page 2 of 30 M users took 28 s). A database ``OFFSET`` over an index
  skips a row faster than the server renders one, so the estimate sits between a bare index
  skip (≈1 µs) and a full row (25 µs).
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_ROW_US = 25.0
"""Microseconds per rendered row (see module docstring)."""
DEFAULT_OFFSET_US = 10.0
"""Microseconds per row skipped by ``first`` (see module docstring)."""


@dataclass(frozen=True, slots=True)
class ServerCost:
    """The cost model's two rates, in microseconds (0: that cost is off)."""

    row_us: float = 0.0
    """Per representation rendered."""
    offset_us: float = 0.0
    """Per row skipped by ``first``."""

    def __post_init__(self) -> None:
        if self.row_us < 0 or self.offset_us < 0:
            raise ValueError("server costs cannot be negative")

    def delay(self, rows: int, first: int) -> float:
        """Seconds the server spends on an answer of ``rows`` rows at offset ``first``."""
        return (max(0, rows) * self.row_us + max(0, first) * self.offset_us) / 1_000_000


@dataclass(frozen=True, slots=True)
class Charged:
    """One answer's modelled cost, as recorded in :attr:`KeycloakEmulator.costs`."""

    route: str
    """The admin route (e.g. ``users``, ``groups/{id}/members``)."""
    rows: int
    first: int
    seconds: float


def rows_of(result: object) -> int:
    """Representations in an answer: a list's length, one object, or none for a number."""
    if isinstance(result, list):
        return len(result)
    return 1 if isinstance(result, dict) else 0


def chain_seconds(total: int, page: int, cost: ServerCost, latency_s: float = 0.0) -> float:
    """Modelled time of one offset chain reading ``total`` rows ``page`` at a time.

    ``n = ⌊total/page⌋ + 1`` requests (the last one short), so
    ``n·latency + total·row + page·offset·n(n−1)/2``: the offset term grows with the square
    of the number of pages, which is why one large ``max`` beats many small ones.
    """
    n = total // page + 1
    offsets = sum(k * page for k in range(n))
    return n * latency_s + cost.delay(total, 0) + cost.delay(0, offsets)
