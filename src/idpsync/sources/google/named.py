"""The groups an incremental read names: through one groups listing, or one read each.

An incremental read needs each named group's id (to apply member events to the mirror's
edges) and its current record (name, description). ``groups/{e-mail}`` costs one quota call
a group: a 1 % move of the memberships at L names about 4,400 of the 5,000 groups, 4,400
calls, nearly two minutes of the default quota (2,400 a minute). The customer's groups
listing costs ``ceil(G / 200)`` calls (25 at L) in one chain of pages, each page about one
round trip. So the run lists the groups when the named ones are at least
:data:`LIST_PER_PAGE` times the listing's pages (that many calls take about one round trip of
the default quota), and reads them one by one (in batches) otherwise.

A named address the listing does not hold (a group created after its page went by, an
address no group holds any more) is then read on its own, as without the listing: either
way each named address gets the body Google answers for ``groups/{e-mail}`` now, ``None``
where that is 404. A listing matches an address on the group's primary e-mail or an alias,
as ``groups/{key}`` does. A listing that fails falls back to the reads one by one.

**Started beside the activities.** Whether the listing pays is known only once the activity
log is read, and the log is a chain of pages (21 at L after a 1 % change) as the listing is
(25 at L): one after the other they were 46 round trips. So the incremental read starts the
listing (:func:`list_groups`) when it starts reading the log, and :func:`named_groups` takes
its answer when listing pays, or cancels it when a few groups read one by one cost less. The
price of guessing wrong: the listing's pages read by then, at most ``ceil(G / 200)`` quota
calls (25 at L), spent on a run that changed few groups. A group listed before an event of
the read window changed it is read again by the next run (its mark is this run's start).

**Most named groups need no read at all.** The log names a group by its primary e-mail
(``GROUP_EMAIL``, "the group's primary email address" in Google's admin audit reference), and
the staged mirror keeps each group's primary e-mail (``attributes["email"]``, written by every
read of the group). A group named only by member events (``ADD_GROUP_MEMBER`` /
``REMOVE_GROUP_MEMBER``) at an address the mirror holds takes its id from the mirror
(:func:`settled`): its record did not change, so nothing is read. Every other named address
is read as above: a group with any other event (created, renamed, a setting: its record is
read), an address the mirror does not hold (a new group, a stage written before the mirror
kept addresses), an address two staged groups claim. An address cannot move from one group
to another without an event the read stops at (``DELETE_GROUP`` and ``CHANGE_GROUP_EMAIL``
make it a full read), so the mirror's address is the group's own for the whole window. The
listing is started beside the log only when some staged group has no address in the mirror
(:func:`addresses`): otherwise the groups left to read are the new and changed ones, few.
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Any

from idpsync.errors import SourceError
from idpsync.sources.google.endpoints import GROUP, GROUP_PAGE, GROUPS, scope_params
from idpsync.sources.google.fetch import fetch_many

if TYPE_CHECKING:
    from idpsync.sources.google.reader import GoogleSource

LIST_PER_PAGE = 20
"""List every group when the named groups are at least this many times the listing's pages."""


def listing_pays(named: int, total: int) -> bool:
    """Whether listing ``total`` groups is cheaper than reading ``named`` of them one by one."""
    pages = max(1, math.ceil(total / GROUP_PAGE))
    return named >= LIST_PER_PAGE * pages


async def named_groups(
    source: GoogleSource,
    names: list[str],
    total: int,
    listing: asyncio.Future[list[Any] | None] | None = None,
) -> list[dict[str, Any] | None]:
    """The group at each address of ``names`` (``None`` where absent), in ``names`` order.

    ``total`` is how many groups the mirror holds (the listing's expected size); ``listing``,
    the groups listing already started (:func:`list_groups`), is awaited when listing pays and
    cancelled otherwise.
    """
    found: dict[str, dict[str, Any]] = {}
    if names and listing_pays(len(names), total):
        items = await (listing if listing is not None else list_groups(source))
        found = by_address(items or [], set(names))
    elif listing is not None:
        await drop(listing)
    rest = [n for n in names if n not in found]
    bodies = dict(zip(rest, await fetch_many(source, GROUP, "groupKey", rest), strict=True))
    extra = source.stats.extra
    extra["groups_listed"] = len(names) - len(rest) if found else 0
    return [found[n] if n in found else bodies[n] for n in names]


ADDRESS = "email"
"""The group attribute that holds its primary e-mail in the mirror (:func:`.api.to_group`)."""


def addresses(staged: dict[str, dict[str, Any]]) -> tuple[dict[str, str], bool]:
    """Staged primary e-mail (lower-cased) → group id, and whether every group has its own.

    ``staged`` is the mirror's :meth:`~idpsync.model.Snapshot.group_attribute_values` of
    :data:`ADDRESS`. An address two staged groups claim resolves to neither.
    """
    found: dict[str, str] = {}
    claimed: set[str] = set()
    for group_id, values in staged.items():
        address = str(values.get(ADDRESS) or "").lower()
        if address in found:
            claimed.add(address)
        elif address:
            found[address] = group_id
    for address in claimed:
        del found[address]
    return found, len(found) == len(staged)


def settled(names: list[str], known: dict[str, str], touched: set[str]) -> dict[str, str]:
    """The named addresses whose ids the mirror gives (module docstring), with those ids."""
    return {name: known[name] for name in names if name in known and name not in touched}


async def list_groups(source: GoogleSource) -> list[Any] | None:
    """Every group of the customer (the listing's items); ``None`` when the listing fails."""
    from idpsync.sources.google.reader import RULE

    settings = source.settings
    params = {**scope_params(settings.customer, settings.domain), "maxResults": str(GROUP_PAGE)}
    try:
        return await source.http.read_all(GROUPS, params=params)
    except SourceError as exc:
        if RULE.fatal(exc):
            raise
        source.stats.extra["groups_listing_failed"] = str(exc)
        return None


def by_address(items: list[Any], names: set[str]) -> dict[str, dict[str, Any]]:
    """Named address → the listing's item holding it (primary e-mail or alias)."""
    found: dict[str, dict[str, Any]] = {}
    for item in items:
        if not isinstance(item, dict):
            continue  # the read of that address alone reports what is wrong
        aliases = item.get("aliases")
        for address in [item.get("email"), *(aliases if isinstance(aliases, list) else [])]:
            key = str(address or "").lower()
            if key in names:
                found[key] = item
    return found


async def drop(listing: asyncio.Future[Any]) -> None:
    """Cancel a listing no longer wanted, and wait until it has stopped.

    A listing that had already failed is let go quietly: what ended it (refused credentials…)
    ends the run's other requests too.
    """
    listing.cancel()
    await asyncio.gather(listing, return_exceptions=True)
