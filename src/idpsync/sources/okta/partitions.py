"""Reading the users of a full snapshot as ``lastUpdated`` ranges that provably cover everyone.

Okta lists users as one chain of pages (each page names the next), so at 200 a page a large org
is one long chain. Okta's ``filter`` (consistent, unlike ``search``, which is served from an
eventually consistent index) compares ``lastUpdated`` with ``lt``/``ge`` and joins terms with
``and`` (developer.okta.com, List all users, ``filter``), so the users can be read as ranges
side by side:

    R_0 = lastUpdated lt b_1,  R_i = lastUpdated ge b_i and lastUpdated lt b_{i+1},
    top = lastUpdated ge t,    with b_1 < … < b_k and t = min(b_k, server time of the read)

**Why nothing is missed.** Every user has exactly one ``lastUpdated`` at any moment, and for any
value exactly one of ``< b`` and ``≥ b`` holds, so the lower ranges and ``top`` together cover
every value (the union is everything by construction, whatever the bounds; the bounds only
decide how even the ranges are). A change gives the user a ``lastUpdated`` later than any the
org showed before, so at least ``b_k`` (a value a past read saw) and at least ``t``: a user
changed during the read can only move *into* ``top``, never between lower ranges nor out of
``top``. ``top`` is listed only after every lower range has reached its end, so a user that did
not change sits in one lower range for that range's whole listing and is read there, and a user
that changed is in ``top`` for its whole listing and is read there. Each listing is read to its
end or the snapshot is incomplete, as with one chain. ``filter`` also returns ``DEPROVISIONED``
users (so no separate listing is needed; they are dropped here when not wanted).

**Duplicates.** A user read in a lower range and again in ``top`` (it changed in between, or
``t`` was clamped below ``b_k``) is kept once, as ``top`` last read it (:func:`merged`).

**Bounds.** After a complete full read, :func:`bounds_of` keeps ``parts − 1`` quantiles of the
users' ``lastUpdated`` and its largest value (the state key ``user_bounds``), so the next full
read's lower ranges hold about the same number of users and ``top`` only the users changed
since. Without saved bounds (the first read), or when they would not split the users (every
user with the same ``lastUpdated``), the users are one chain as before.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from idpsync.sources.lanes import gather
from idpsync.sources.okta.endpoints import USERS, USERS_PAGE

if TYPE_CHECKING:
    from idpsync.model import Snapshot
    from idpsync.sources.okta.reader import OktaSource

BOUNDS_KEY = "user_bounds"
"""The connector state key holding the bounds of the next full read."""


def bounds_of(users: Iterable[dict[str, Any]], parts: int) -> list[str]:
    """``parts − 1`` quantiles of the users' ``lastUpdated``, then the largest, distinct, sorted.

    Fewer than two values (nothing to split) give ``[]``, and so does a user without a
    ``lastUpdated`` (Okta always sends one; a user without would be in no range).
    """
    found = [u.get("lastUpdated") for u in users]
    if parts < 2 or not found or not all(isinstance(s, str) and s for s in found):
        return []
    stamps = sorted(str(s) for s in found)
    cuts = {stamps[len(stamps) * i // parts] for i in range(1, parts)} | {stamps[-1]}
    bounds = sorted(cuts)
    return bounds if len(bounds) >= 2 else []


def usable(saved: object) -> list[str]:
    """Saved bounds if they are a sorted list of distinct strings (at least two), else ``[]``."""
    if not isinstance(saved, list) or len(saved) < 2:
        return []
    if not all(isinstance(b, str) and b for b in saved):
        return []
    return saved if all(a < b for a, b in itertools.pairwise(saved)) else []


def fewer(bounds: Sequence[str], count: int) -> list[str]:
    """At most ``count`` of ``bounds``, spread evenly, the last always kept.

    That is ``count`` lower ranges; any subset still covers everything, only less evenly.
    """
    if count >= len(bounds):
        return list(bounds)
    if count < 1:
        return []
    step = len(bounds) / count
    return [bounds[round(step * (i + 1)) - 1] for i in range(count)]


def lower_filters(bounds: Sequence[str]) -> list[str]:
    """The ``filter`` of each lower range: below ``bounds[0]``, then between neighbours."""
    filters = [f'lastUpdated lt "{bounds[0]}"']
    filters += [
        f'lastUpdated ge "{low}" and lastUpdated lt "{high}"'
        for low, high in itertools.pairwise(bounds)
    ]
    return filters


def top_filter(bounds: Sequence[str], started: str | None) -> str:
    """The ``filter`` of the top range: from the last bound, or the read's start if earlier."""
    start = bounds[-1] if started is None else min(bounds[-1], started)
    return f'lastUpdated ge "{start}"'


def merged(
    lower: Iterable[list[dict[str, Any]]], top: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every user once: the lower ranges in order, then ``top``.

    A later copy replaces one read before; records without a string id are kept as they are,
    for the usual checks.
    """
    by_id: dict[str, dict[str, Any]] = {}
    odd: list[dict[str, Any]] = []
    for part in (*lower, top):
        for user in part:
            uid = user.get("id") if isinstance(user, dict) else None
            if isinstance(uid, str):
                by_id.pop(uid, None)
                by_id[uid] = user
            else:
                odd.append(user)
    return [*by_id.values(), *odd]


async def read_ranges(
    source: OktaSource, snap: Snapshot, bounds: list[str], answered: asyncio.Event
) -> list[Any] | None:
    """Every user: the lower ranges side by side, then the top range.

    The first lower range goes first (its first answer proves the credentials and fixes the
    read's start); the others wait for ``answered``. ``None`` if a range was not read to its end
    (``snap`` says why). ``DEPROVISIONED`` users are dropped unless the settings want them.
    """
    filters = lower_filters(bounds)

    async def lower(i: int, where: str) -> list[Any] | None:
        if i:
            await answered.wait()
        params = {"limit": str(USERS_PAGE), "filter": where}
        try:
            return await source.read_listing(
                snap, f"users ({where})", USERS, params, None, answered
            )
        finally:
            answered.set()  # also after a failed (not fatal) first page: the others go on

    parts = await gather(*(lower(i, where) for i, where in enumerate(filters)))
    if any(part is None for part in parts):
        return None
    where = top_filter(bounds, source.started)
    params = {"limit": str(USERS_PAGE), "filter": where}
    top = await source.read_listing(snap, f"users ({where})", USERS, params)
    if top is None:
        return None
    read = merged((p or [] for p in parts), top)
    if source.settings.include_deprovisioned:
        return read
    return [u for u in read if not (isinstance(u, dict) and u.get("status") == "DEPROVISIONED")]
