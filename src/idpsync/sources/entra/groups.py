"""The groups side of a full Entra read: the groups listing and every group's members.

**``expand_members``** (default on) lists groups with ``$expand=members($select=id)``. Graph
caps that in two documented ways (known issue 13635,
https://developer.microsoft.com/en-us/graph/known-issues/?search=13635, and
https://learn.microsoft.com/graph/query-parameters#expand-parameter): an expanded relation of a
directory object holds at most 20 objects and has no next link, and a page with ``$expand``
holds at most 100 objects. So a group whose expansion holds fewer than 20 members is complete
as listed; one holding 20 (or whose answer has no ``members`` list) may be cut short and has its
members listed like any other (``/groups/{id}/members``). With ``G`` groups of which ``L`` have
20 or more members, the groups listing costs ``q(G) = ceil(G / 100)`` pages instead of
``p(G) = ceil(G / 999)`` and the member listings shrink from ``Σ_g p(m_g)`` (all groups) to
``Σ_{g ∈ L} p(m_g)``. It pays when the groups it spares outnumber the extra group pages: without
batching when ``G − L > q(G) − p(G)`` (about ``G / 111``), with batching when
``ceil(Σ_g p(m_g) / 20) − ceil(Σ_{g ∈ L} p(m_g) / 20) > q(G) − p(G)``, i.e. roughly when more
than a fifth of the groups are small. Turn it off for a tenant of mostly large groups.

**``batch``** (default on) sends the member listings as JSON batches
(:mod:`idpsync.sources.entra.batch`): ``ceil(Σ p(m_g) / batch_size)`` calls instead of one
request per page.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from idpsync.model import EdgeList, Snapshot, SourceGroup
from idpsync.sources.base import EdgeSink, Event, Progress
from idpsync.sources.clean import usable_id
from idpsync.sources.entra import endpoints as ep
from idpsync.sources.entra import records as rec
from idpsync.sources.entra.batch import BatchedListings, Found, read_members
from idpsync.sources.lanes import Lanes, both, gather
from idpsync.sources.shape import identified, records

if TYPE_CHECKING:
    from idpsync.sources.entra.full_links import PartLinks
    from idpsync.sources.entra.reader import EntraSource

EXPAND_CAP = 20
"""Graph returns at most this many objects of an expanded relation (and no next link)."""
EXPAND_PAGE = "100"
"""Graph's largest page when ``$expand`` is used on directory objects."""


def group_params(expand: bool) -> dict[str, str]:
    """Query of the groups listing (with the members expansion when ``expand``)."""
    select = ",".join(rec.GROUP_FIELDS)
    if not expand:
        return {"$top": ep.PAGE, "$select": select}
    return {"$top": EXPAND_PAGE, "$select": select, "$expand": "members($select=id)"}


async def read_groups(source: EntraSource, snap: Snapshot, progress: Progress) -> None:
    """The groups listing into ``snap.groups``; whole expansions into ``source.expanded``."""
    params = group_params(source.settings.expand_members)
    raws = await source.listing(snap, ep.GROUPS, params=params) or []
    source.expanded = complete_expansions(raws)
    snap.groups = group_records(snap, raws)
    progress(Event("fetch", f"read {len(snap.groups)} groups"))


async def groups_and_members(
    source: EntraSource,
    snap: Snapshot,
    progress: Progress,
    reader: BatchedListings,
    parts: PartLinks | None = None,
) -> None:
    """Groups and every group's member edges, all in ``reader``'s rounds of batches.

    The groups listing is a listing of the batches too (a chain: one page a round), and each of
    its pages hands its groups that need a member listing to the same reader at once, so a big
    group's chain of member pages starts in the next round instead of after the last groups
    page. ``reader`` may carry other listings (the users); this runs it to its end. ``parts``
    is told the groups of each page and the listing's end (the groups delta partitions' links).
    """
    snap.groups = []

    def page(values: list[dict[str, Any]]) -> None:
        groups = group_records(snap, values)
        snap.groups.extend(groups)
        whole = complete_expansions(values)
        for group in groups:
            if group.source_id in whole:
                add_edges(snap, group.source_id, whole[group.source_id], source.sink)
        reader.add([g.source_id for g in groups if g.source_id not in whole], "id")
        if parts is not None:
            parts.named([g.source_id for g in groups])

    done = listing_ended(snap, reader, parts, progress)
    ended: deque[tuple[str, list[Any]]] = deque()
    more = asyncio.Event()
    reading = True

    def found(group_id: str, items: list[Any] | None) -> None:
        if items is not None:
            ended.append((group_id, items))
            more.set()

    async def edges() -> None:
        """Each ended listing's edges while the next rounds are in flight, a group at a time.

        Not all after the last answer: at 100k users that was ≈1M edges at the end.
        """
        while reading or ended:
            if not ended:
                more.clear()
                await more.wait()
                continue
            group_id, items = ended.popleft()
            add_edges(snap, group_id, items, source.sink)
            await asyncio.sleep(0)  # answers that came in go first

    async def run() -> None:
        nonlocal reading
        try:
            await reader.run()
        finally:
            reading = False
            more.set()

    reader.on_found = found
    reader.follow(ep.GROUPS, group_params(source.settings.expand_members), page, done)
    await both(run(), edges())


def _name(raw: dict[str, Any]) -> object:
    return raw.get("displayName")


def group_records(snap: Snapshot, raws: list[Any]) -> list[SourceGroup]:
    """The usable groups of a groups listing's page (the others recorded in ``snap``)."""
    return records(snap, ep.GROUPS.label, "group", raws, rec.to_group, _name)


def listing_ended(
    snap: Snapshot, reader: BatchedListings, parts: PartLinks | None, progress: Progress
) -> Callable[[bool], None]:
    """What the groups listing's end does on either side (groups' or members').

    The partitions' links are told, ``reader`` takes no more listings, the count is reported.
    """

    def done(_: bool) -> None:
        if parts is not None:
            parts.listed_all()
        reader.close()
        progress(Event("fetch", f"read {len(snap.groups)} groups"))

    return done


def complete_expansions(raws: list[Any]) -> dict[str, list[Any]]:
    """Group id → its expanded members, for the groups whose expansion is surely whole.

    An expansion that holds :data:`EXPAND_CAP` objects may have been cut short; one that is
    missing or not a list says nothing. Those groups are not in the result (they are listed).
    """
    known: dict[str, list[Any]] = {}
    for raw in raws:
        if not isinstance(raw, dict):
            continue
        group_id = usable_id(raw.get("id"))
        members = raw.get("members")
        if group_id is not None and isinstance(members, list) and len(members) < EXPAND_CAP:
            known[group_id] = members
    return known


def add_edges(
    snap: Snapshot, group_id: str, items: list[Any] | None, sink: EdgeSink | None = None
) -> list[dict[str, Any]]:
    """Membership edges of ``group_id`` from its member objects; the usable objects.

    The edges go into ``snap``, or to ``sink`` at once (a streamed full read: ``items`` is a
    whole listing, and an unscoped read keeps every edge it lists).
    """
    good = identified(snap, f"{ep.MEMBERS.label} ({group_id})", items or [])
    edges = snap.memberships if sink is None else EdgeList()
    for item in good:
        kind = rec.member_kind(item)
        if kind is not None:
            edges.append(snap.edge(group_id, str(item["id"]), kind))
    if sink is not None:
        sink.edges(edges)
    return good


async def members_of(
    source: EntraSource,
    snap: Snapshot,
    group_ids: list[str],
    select: str,
    lanes: Lanes | None = None,
) -> Found:
    """Edges of every group in ``group_ids`` into ``snap``; each group's member objects.

    Groups whose members the groups listing already gave (``source.expanded``) cost nothing;
    the others are read in batches (``batch``) or one listing each.
    """
    found: Found = {}
    todo: list[str] = []
    for group_id in dict.fromkeys(group_ids):
        if group_id in source.expanded and select == "id":
            found[group_id] = add_edges(snap, group_id, source.expanded[group_id], source.sink)
        else:
            todo.append(group_id)
    settings = source.settings
    if settings.batch:
        read = await read_members(
            source.http, snap, todo, select, size=settings.batch_size, lanes=lanes
        )
        for group_id in todo:
            items = read.get(group_id)
            found[group_id] = (
                None if items is None else add_edges(snap, group_id, items, source.sink)
            )
    else:
        await gather(*(source.members(snap, x, select, found, lanes) for x in todo))
    return found
