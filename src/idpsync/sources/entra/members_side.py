"""The members' side of a full Entra read: every user's and every group's groups (``memberOf``).

The groups' side (:mod:`~idpsync.sources.entra.groups`) lists each group's members; a group of
100,000 members is then a chain of 101 pages of 999 that nothing can split. Graph also gives
memberships from the members' side: ``memberOf`` "supports ``$expand``" on users and on groups
(https://learn.microsoft.com/graph/api/resources/user,
https://learn.microsoft.com/graph/api/resources/group), so

- the users are listed (in the partitions of :mod:`~idpsync.sources.entra.partitions`, with
  their proof) with ``$expand=memberOf($select=id)``, 100 a page;
- the groups are listed with ``$expand=memberOf($select=id)``, 100 a page (their parents: the
  group-in-group edges);
- an expansion returns at most 20 objects and has no next link
  (https://learn.microsoft.com/graph/query-parameters#expand-parameter, the same rule
  ``expand_members`` relies on): an object whose expansion holds 20 entries (or has none) has
  its ``/users/{id}/memberOf`` or ``/groups/{id}/memberOf`` listed whole, in the same rounds
  of ``$batch`` calls, from the round after the page that named it. Entries that are not
  groups (``#microsoft.graph.directoryRole``, ``administrativeUnit``) give no edge but count
  toward the 20;
- managers: Graph expands one relationship per request on users ("for some APIs, only one
  relationship can be expanded in a single request", query-parameters; users among them,
  https://github.com/microsoftgraph/microsoft-graph-docs/issues/96), so with
  ``fetch_managers`` a second users pass (``$select=id,userPrincipalName`` and
  ``$expand=manager($select=id)``, partitioned and proven the same way) runs beside the first.
  A user the second pass did not name (created between the passes) has its manager read alone;
  when the second pass fails, the users are left out (the read is incomplete: nobody is
  updated with a manager it did not read, nor removed).

Every listing ends or marks the read incomplete (a failed ``memberOf`` listing names the
object), so a missed membership never looks like a removal. Edges go to the stage page by page
(``EdgeSink``), made while the next round is in flight (:mod:`~idpsync.sources.entra.later`);
a user seen twice (its partition in doubt, then the one chain) gives its edges once. The
groups delta partitions' links ride the same rounds as on the groups' side
(:class:`~idpsync.sources.entra.full_links.PartLinks`).

**Requests** (batch items; ``P`` the users pages at 100, partitions' empty ones included)::

    items = 1 + 2 (counts) + P + [2 + P] (managers' pass) + ceil(G / 100)
          + Σ_{u: expansion at 20} p(groups_u) + Σ_{g: expansion at 20} p(parents_g)
          [+ 44: each partition's count, asked once for both passes, from 15,000 users]

and the chain is the largest partition's pages (plus the counts), not the largest group's.
The partitions' counts let a short partition wait for room in the rounds (``packing.py``).
Setting ``memberships`` (``docs/sources/entra.md``) chooses the side.
"""

from __future__ import annotations

import asyncio
import math
from functools import partial
from typing import TYPE_CHECKING, Any

from idpsync.http import Endpoint
from idpsync.model import EdgeList, MemberKind, Snapshot
from idpsync.sources.base import Progress
from idpsync.sources.clean import usable_id
from idpsync.sources.entra import endpoints as ep
from idpsync.sources.entra import partitions
from idpsync.sources.entra import records as rec
from idpsync.sources.entra.batch import BatchedListings, Items
from idpsync.sources.entra.groups import EXPAND_CAP, EXPAND_PAGE, group_records, listing_ended
from idpsync.sources.lanes import Lanes, gather
from idpsync.sources.shape import identified, records

if TYPE_CHECKING:
    from idpsync.sources.entra.full_links import PartLinks
    from idpsync.sources.entra.reader import EntraSource

EXPAND = "memberOf($select=id)"
APART = {"$top": ep.PAGE, "$select": "id"}
"""Query of an object's own ``memberOf`` listing (when its expansion may be cut short)."""
MANAGERS = {
    "$top": EXPAND_PAGE,
    "$select": "id,userPrincipalName",
    "$expand": "manager($select=id)",
}
"""Query of the managers' pass (the partitions' proof needs each user's userPrincipalName)."""


def chosen(source: EntraSource, before: int | None) -> bool:
    """Whether this full read takes memberships from the members' side (``memberships``).

    ``auto`` takes it when the users will be partitioned (``before``, the tenant's user count,
    gives at least ``partition_min_pages`` pages of 100): in a smaller tenant the one users
    chain at 100 a page would outlast the groups' side.
    """
    settings = source.settings
    if settings.memberships == "groups" or not settings.batch or source.scope is not None:
        return False
    if settings.memberships == "members":
        return True
    pages = math.ceil(before / int(EXPAND_PAGE)) if before is not None else 0
    return settings.partition_users == "auto" and pages >= settings.partition_min_pages


class MembersSide:
    """One full read's memberships from the members' side, in ``reader``'s rounds."""

    def __init__(self, source: EntraSource, snap: Snapshot, reader: BatchedListings) -> None:
        self.source = source
        self.snap = snap
        self.reader = reader
        self.seen: set[str] = set()
        """Users and groups whose groups were taken (from their expansion or listing)."""

    def _edges(self, member_id: str, kind: MemberKind, endpoint: Endpoint, items: Items) -> None:
        """The edges of ``member_id`` to each group among ``items`` (others ignored)."""
        good = identified(self.snap, f"{endpoint.label} ({member_id})", items)
        sink = self.source.sink
        edges = self.snap.memberships if sink is None else EdgeList()
        for item in good:
            if rec.member_kind(item) is MemberKind.GROUP:
                edges.append(self.snap.edge(str(item["id"]), member_id, kind))
        if sink is not None:
            sink.edges(edges)

    def _take(self, raw: dict[str, Any], kind: MemberKind, endpoint: Endpoint) -> None:
        """One object's groups: its expansion when surely whole, else its listing (module doc)."""
        object_id = usable_id(raw.get("id"))
        expanded = raw.pop("memberOf", None)  # not kept with the user's record
        if object_id is None or object_id in self.seen:
            return
        self.seen.add(object_id)
        if isinstance(expanded, list) and len(expanded) < EXPAND_CAP:
            self.reader.later.add(partial(self._edges, object_id, kind, endpoint, expanded))
            return
        tap = partial(self._later_edges, object_id, kind, endpoint)
        self.reader.listing(endpoint, APART, self.snap, {"id": object_id}, tap)

    def _later_edges(
        self, member_id: str, kind: MemberKind, endpoint: Endpoint, items: Items
    ) -> None:
        """A listing's page of ``member_id``'s groups: its edges made in the read's ``later``."""
        self.reader.later.add(partial(self._edges, member_id, kind, endpoint, items))

    def _user_page(self, values: Items) -> None:
        for raw in values:
            if isinstance(raw, dict):
                self._take(raw, MemberKind.USER, ep.MEMBER_OF)

    async def users(self, out: list[dict[str, Any]], before: int | None, lanes: Lanes) -> None:
        """The users (with their groups) into ``out``, and their managers (a second pass)."""
        source, snap, reader = self.source, self.snap, self.reader
        fields = ",".join(source.user_fields)
        params = {"$top": EXPAND_PAGE, "$select": fields, "$expand": EXPAND}
        counted = None  # the partitions' counts, asked once for both passes
        if source.settings.fetch_managers and partitions.parted(source.settings, params, before):
            counted = partitions.partition_counts(reader, params, before)
        try:
            read = partitions.list_users(
                source, snap, params, before, lanes, reader, self._user_page, counted
            )
            if source.settings.fetch_managers:
                other = partitions.list_users(
                    source, snap, MANAGERS, before, lanes, reader, counted=counted
                )
                items, bosses = await asyncio.gather(read, other)
            else:
                items, bosses = await read, None
            raws = records(snap, ep.USERS.label, "user", items or [], rec.checked_user, rec.upn)
            if source.settings.fetch_managers:
                raws = await self._managers(raws, bosses)
            out.extend(raws)
        finally:
            lanes.chain_done()
            reader.close()

    async def _managers(
        self, raws: list[dict[str, Any]], bosses: list[dict[str, Any]] | None
    ) -> list[dict[str, Any]]:
        """``raws`` with each one's ``manager`` from the second pass (module doc)."""
        if bosses is None:  # the pass failed (``snap`` says why): no user without its manager
            return []
        found = {usable_id(b.get("id")): b for b in bosses if isinstance(b, dict)}
        alone: dict[str, str | None] = {}
        missing = [str(raw["id"]) for raw in raws if str(raw["id"]) not in found]
        await gather(*(self.source._manager(self.snap, i, alone) for i in missing))
        kept: list[dict[str, Any]] = []
        for raw in raws:
            user_id = str(raw["id"])
            if user_id in found:
                manager = found[user_id].get("manager")
            elif user_id in alone:
                manager = None if alone[user_id] is None else {"id": alone[user_id]}
            else:
                continue  # its manager could not be read (``snap`` says why)
            raw.pop("manager", None)
            if manager is not None:
                raw["manager"] = manager
            kept.append(raw)
        return kept

    async def groups(self, progress: Progress, parts: PartLinks | None) -> None:
        """The groups listing (with their parents), then ``reader`` run to its end."""
        snap, reader = self.snap, self.reader
        snap.groups = []

        def page(values: Items) -> None:
            groups = group_records(snap, values)
            snap.groups.extend(groups)
            named = {g.source_id for g in groups}
            for raw in values:
                if isinstance(raw, dict) and usable_id(raw.get("id")) in named:
                    self._take(raw, MemberKind.GROUP, ep.GROUP_MEMBER_OF)
            if parts is not None:
                parts.named([g.source_id for g in groups])

        select = ",".join(rec.GROUP_FIELDS)
        params = {"$top": EXPAND_PAGE, "$select": select, "$expand": EXPAND}
        reader.follow(ep.GROUPS, params, page, listing_ended(snap, reader, parts, progress))
        await reader.run()
