"""The users listing of a full read, split into parallel partitions when that is provably complete.

One ``GET /users`` chain reads ``⌈U / page⌉`` pages one after the other (with managers Graph
caps an expanded page at 100 users, so 1,000 pages at 100k users). Graph has no offset paging
on ``/users`` (``$skip`` is refused), but ``$filter=startswith(userPrincipalName,'x')`` is a
*default* filter on users (no ``ConsistencyLevel`` header, no ``$count``), so it combines with
``$select`` and ``$expand=manager($select=id)``. Every user has a userPrincipalName, and its
first character comes from a documented set; one listing per character of that set covers every
user, and those listings run side by side.

**The rule** (Graph's user resource, property ``userPrincipalName``: "can't contain accent
characters. Only the following characters are allowed A - Z, a - z, 0 - 9, ' . - _ ! # ^ ~";
https://learn.microsoft.com/graph/api/resources/user and the username policies of Entra ID,
https://learn.microsoft.com/entra/identity/authentication/concept-sspr-policy). Guests' UPNs
(``alias_domain#EXT#@tenant``) keep the alias's first character. :data:`FIRST` is that set,
written down once; letters are asked for in lower case only, because Graph compares directory
strings without regard to case (observed, not documented: see below for why that is safe).

**Proof of completeness.** The partitions count as the whole listing only when all of this
holds; anything else is a *doubt*:

- every partition was read to its end (no failure, no repeated link, no page of the wrong shape);
- every user returned has a text userPrincipalName whose first character is in :data:`FIRST`
  and that starts with its partition's prefix (case-folded);
- no user id appears twice (in two partitions, or twice in one);
- the tenant's user count, taken before and after the partitions
  (``GET /users?$count=true&$top=1&$select=id`` with ``ConsistencyLevel: eventual``: Graph
  answers ``@odata.count``), is the same both times and equals the number of users read.

A user whose UPN started outside the documented set, or an upper-case letter that Graph did
compare case-sensitively, would be missing from every partition, so the count would not match.
On any doubt the partitions are thrown away and the plain chain is read instead (one more full
listing), so a missed user can never look like a leaver. The count is eventually consistent: in
a tenant with changes in flight it may lag, which costs a fallback, never completeness. The one
case the count cannot catch is a user outside the rule missing while another user was created
and a third deleted between the two counts, exactly compensating; the delta links taken before
the read and the next full read then repair the mirror. ``partition_users = "off"`` keeps the
single chain for anyone who does not accept that.

**Requests.** ``auto`` takes the count first (1 request). Below ``partition_min_pages`` pages
(``⌈count / page⌉``) it reads the one chain. Otherwise::

    requests = 1 (count before) + Σ_c max(1, ⌈U_c / page⌉) (one listing per c in FIRST, 44)
             + 1 (count after)   [+ the one chain, ⌈U / page⌉, on a doubt]

With ``batch`` these are items of the read's batch calls (the counts too: the one before with
the delta links, :mod:`~idpsync.sources.entra.full_links`; the one after in the round after the
last partition's page), not round trips of their own; from :data:`SIZED_MIN_PAGES` pages the
first round also asks each partition's own count (44 items more, eventually consistent and no
part of the proof: :func:`partition_counts`), so that the rounds can be planned
(:mod:`~idpsync.sources.entra.packing`).

so at most 44 + 2 requests more than the chain, and the longest chain is the largest
first-character partition instead of the whole tenant.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from idpsync.errors import ShapeError
from idpsync.http import Endpoint, HttpClient
from idpsync.http.errors import HttpError
from idpsync.model import Snapshot
from idpsync.sources.entra import endpoints as ep
from idpsync.sources.entra.batch import BatchedListings, Tap
from idpsync.sources.entra.endpoints import RULE
from idpsync.sources.entra.settings import EntraSourceSettings
from idpsync.sources.lanes import Lanes, gather

log = logging.getLogger("idpsync.sources.entra.partitions")

FIRST = "abcdefghijklmnopqrstuvwxyz0123456789'.-_!#^~"
"""Every character a userPrincipalName may start with (documented rule, letters folded)."""
EVENTUAL = {"ConsistencyLevel": "eventual"}
COUNT = {"$count": "true", "$top": "1", "$select": "id"}
"""The cheapest read that answers the tenant's user count (``@odata.count``)."""


class PartitionReads(Protocol):
    """What the partitioned listing uses of the Entra source (its reader)."""

    http: HttpClient
    settings: EntraSourceSettings

    async def listing(
        self,
        snap: Snapshot,
        endpoint: Endpoint,
        values: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> list[dict[str, Any]] | None:
        """A whole listing, or ``None`` (``snap`` marked incomplete) when it failed."""
        ...


def literal(text: str) -> str:
    """An OData string literal (a quote is doubled)."""
    return "'" + text.replace("'", "''") + "'"


def partition_filter(prefix: str) -> str:
    """``$filter`` of the partition of users whose UPN starts with ``prefix`` (one character)."""
    return f"startswith(userPrincipalName,{literal(prefix)})"


@dataclass
class Partitioned:
    """What one partitioned read found, and the first doubt about it (``None``: proven)."""

    users: list[dict[str, Any]] = field(default_factory=list)
    doubt: str | None = None

    def doubt_of(self, reason: str) -> None:
        """Keep the first reason."""
        if self.doubt is None:
            self.doubt = reason


def check_partition(prefix: str, items: list[Any], seen: set[str], out: Partitioned) -> None:
    """Add one partition's users to ``out``; note any doubt (see the module doc)."""
    for item in items:
        upn = item.get("userPrincipalName") if isinstance(item, dict) else None
        user_id = item.get("id") if isinstance(item, dict) else None
        if not isinstance(user_id, str) or not user_id or not isinstance(upn, str) or not upn:
            out.doubt_of(f"partition {prefix!r}: a user without id or userPrincipalName")
            continue
        first = upn[0].lower() if upn[0].isascii() else None  # no folding of non-ASCII
        if first is None or first not in FIRST or first != prefix:
            out.doubt_of(f"partition {prefix!r}: {upn!r} is outside the partition")
        if user_id in seen:
            out.doubt_of(f"user {user_id} was listed twice")
        seen.add(user_id)
        out.users.append(item)


async def user_count(http: HttpClient) -> int | None:
    """The tenant's user count (eventually consistent); ``None`` when Graph would not tell."""
    try:
        body = await http.get_json(ep.USERS, params=COUNT, headers=EVENTUAL)
    except (HttpError, ShapeError) as exc:
        if RULE.fatal(exc):
            raise
        log.info("the user count could not be read: %s", exc)
        return None
    return count_of(body)


def count_of(body: object) -> int | None:
    """``@odata.count`` of a count's answer (``None``: none, or not a count)."""
    count = body.get("@odata.count") if isinstance(body, dict) else None
    return count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else None


async def count_after(source: PartitionReads, batcher: BatchedListings | None) -> int | None:
    """The count after the partitions: in ``batcher``'s next round (a spare item), else alone."""
    if batcher is None:
        return await user_count(source.http)
    return count_of(await batcher.single(ep.USERS, COUNT, Snapshot(), EVENTUAL))


Counted = dict[str, asyncio.Future[dict[str, Any] | None]]


SIZED_MIN_PAGES = 150
"""Fewest pages (of the tenant, at the listing's page) for which the partitions are counted:
below, the 44 counts cost about as many batch calls as they save (``docs/benchmarks.md``)."""


def partition_counts(
    batcher: BatchedListings, params: dict[str, str], before: int | None
) -> Counted | None:
    """Each partition's user count, asked in ``batcher``'s next round (``$count`` of its filter).

    Eventually consistent, so never part of the proof: it only tells the reader each
    partition's length, so that a short one can wait for room in a later round
    (:mod:`~idpsync.sources.entra.packing`). A count that fails leaves its partition unsized.
    ``None`` (no counts) below :data:`SIZED_MIN_PAGES`.
    """
    if before is None or math.ceil(before / int(params.get("$top", ep.PAGE))) < SIZED_MIN_PAGES:
        return None
    scratch = Snapshot()
    return {
        c: batcher.single(
            ep.USERS, {**COUNT, "$filter": partition_filter(c)}, scratch, EVENTUAL, due=True
        )
        for c in FIRST
    }


def pages_of(counted: asyncio.Future[dict[str, Any] | None], size: int) -> Callable[[], int | None]:
    """The pages of a partition of ``size`` a page, once its count is in (else ``None``)."""

    def total() -> int | None:
        count = count_of(counted.result()) if counted.done() else None
        return None if count is None else max(1, math.ceil(count / size))

    return total


def parted(settings: EntraSourceSettings, params: dict[str, str], before: int | None) -> bool:
    """Whether :func:`list_users` reads the partitions (else the one chain)."""
    if settings.partition_users == "off" or before is None:
        return False
    return math.ceil(before / int(params.get("$top", ep.PAGE))) >= settings.partition_min_pages


async def read_partitions(
    source: PartitionReads,
    params: dict[str, str],
    lanes: Lanes | None,
    batcher: BatchedListings | None = None,
    tap: Tap | None = None,
    counted: Counted | None = None,
) -> Partitioned:
    """Every partition of :data:`FIRST` at once, each in one lane or in ``batcher``'s rounds.

    In ``batcher`` each partition's next page joins the round after its page came in.
    Without ``batcher`` the first partition takes the lane ``lanes`` keeps for the users chain
    (free until the chain, if a doubt calls for it, runs after the partitions); the others
    share the rest. ``tap`` (with ``batcher`` only) sees each page as it lands; ``counted``
    (with ``batcher``): the partitions' counts (:func:`partition_counts`), which size each
    partition's listing.
    """
    out = Partitioned()
    seen: set[str] = set()
    scratch = Snapshot()

    def query(prefix: str) -> dict[str, str]:
        return {**params, "$filter": partition_filter(prefix)}

    async def one(prefix: str) -> None:
        if lanes is None or prefix == FIRST[0]:
            items = await source.listing(scratch, ep.USERS, params=query(prefix))
        else:
            async with lanes.other():
                items = await source.listing(scratch, ep.USERS, params=query(prefix))
        take(prefix, items)

    def take(prefix: str, items: list[dict[str, Any]] | None) -> None:
        if items is None:
            out.doubt_of(f"partition {prefix!r} was not read to its end")
        else:
            check_partition(prefix, items, seen, out)

    if batcher is None:
        await gather(*(one(prefix) for prefix in FIRST))
    else:  # all added now, so all start in the same round (with the counts)
        size = int(params.get("$top", ep.PAGE))
        batched = {
            c: batcher.listing(
                ep.USERS,
                query(c),
                scratch,
                tap=tap,
                total=pages_of(counted[c], size) if counted else None,
            )
            for c in FIRST
        }
        for prefix, future in batched.items():
            take(prefix, await future)
    if not scratch.complete:
        out.doubt_of("; ".join(scratch.incomplete_reasons))
    return out


async def one_chain(
    source: PartitionReads,
    snap: Snapshot,
    params: dict[str, str],
    batcher: BatchedListings | None,
    tap: Tap | None = None,
) -> list[dict[str, Any]] | None:
    """The plain ``GET /users`` chain, its pages one by one or in ``batcher``'s rounds."""
    if batcher is None:
        return await source.listing(snap, ep.USERS, params=params)
    return await batcher.listing(ep.USERS, params, snap, tap=tap)


async def list_users(
    source: PartitionReads,
    snap: Snapshot,
    params: dict[str, str],
    before: int | None,
    lanes: Lanes | None = None,
    batcher: BatchedListings | None = None,
    tap: Tap | None = None,
    counted: Counted | None = None,
) -> list[dict[str, Any]] | None:
    """The whole users listing: proven partitions, else the one chain (see module doc).

    ``before`` is the tenant's user count, asked beside the delta links (``None``: not
    asked with ``off``, or not available). ``None`` (``snap`` marked incomplete) only
    when the one chain failed. ``tap`` (with ``batcher``) sees every page read, partitions'
    and chain's alike, as it lands (a user may be seen twice).
    """
    if before is None and source.settings.partition_users != "off":
        log.info("users: one chain (the tenant's user count is not available)")
    if not parted(source.settings, params, before):
        return await one_chain(source, snap, params, batcher, tap)
    if counted is None and batcher is not None:
        counted = partition_counts(batcher, params, before)
    found = await read_partitions(source, params, lanes, batcher, tap, counted)
    if found.doubt is None:
        after = await count_after(source, batcher)
        if after is None or not before == after == len(found.users):
            found.doubt_of(
                f"the tenant counts {before} users before and {after} after, "
                f"the partitions gave {len(found.users)}"
            )
    if found.doubt is None:
        return found.users
    log.warning("users: partitions not proven complete (%s); reading one chain", found.doubt)
    return await one_chain(source, snap, params, batcher, tap)
