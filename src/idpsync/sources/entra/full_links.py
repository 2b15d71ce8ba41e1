"""The delta links a full read saves, and its user count, taken inside its ``$batch`` calls.

**Before the listing** (:func:`latest_links`): the users delta's and the groups delta's
``$deltatoken=latest`` links (with ``batch`` also the groups' own round without members:
:data:`~idpsync.sources.entra.delta_parts.PROPS`) and, with ``partition_users = "auto"``, the
tenant's user count (:mod:`~idpsync.sources.entra.partitions`). With ``batch`` they are the
items of one batch call (after the token); without it, requests side by side. A link that
cannot be read only means no delta next time.

**During the listing** (:class:`PartLinks`, ``batch`` and no required groups): the groups
delta's partitions of :data:`~idpsync.sources.entra.delta_parts.MAX_IDS` ids each
(``delta_parts.py``) take their ``latest`` links as the groups pages name their groups, as
spare items of the listing's own rounds (``batch.py``): they fill calls the listings leave
part-empty instead of costing calls of their own after the listing. Once the groups listing
has ended and every partition's link is in, the read's own groups delta link (taken before the
listing) is followed to its end, also in those rounds: the groups it names changed during the
read (a change between a group's member listing and its partition's link would be in neither),
and are saved as :data:`~idpsync.sources.entra.delta_parts.UNTRACKED`. A link taken before a
group's members were listed only repeats, next time, a change the listing already saw. When
anything there fails, or the read is incomplete, no partition is saved (the next run follows
the single chain).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from idpsync.http import Endpoint
from idpsync.http.origins import same_origin
from idpsync.model import Snapshot
from idpsync.sources.clean import usable_id
from idpsync.sources.entra import delta as entra_delta
from idpsync.sources.entra import delta_parts, partitions
from idpsync.sources.entra import endpoints as ep
from idpsync.sources.entra.delta_batch import DeltaRounds, Round
from idpsync.sources.lanes import gather

WITH_MEMBERS = delta_parts.WITH_MEMBERS

if TYPE_CHECKING:
    from idpsync.sources.entra.reader import EntraSource


async def latest_links(source: EntraSource, count: bool) -> tuple[dict[str, str], int | None]:
    """Delta links for "from now on" (and, with ``count``, the tenant's user count).

    The token is taken first, so the concurrent requests do not each ask for one when the
    token endpoint refuses the credentials.
    """
    scratch = Snapshot()
    await source._guard(scratch, ep.TOKEN, source.auth.token())
    managers = ["manager"] if source.settings.fetch_managers else []  # → manager@delta
    fields = ",".join([*source.user_fields, *managers])
    wanted: list[tuple[str, Endpoint, dict[str, str]]] = [
        ("users_delta", ep.USERS_DELTA, {"$deltatoken": "latest", "$select": fields}),
        ("groups_delta", ep.GROUPS_DELTA, {"$deltatoken": "latest", "$select": WITH_MEMBERS}),
    ]
    if source.scope is None and source.settings.batch:  # the groups delta by partitions
        own = {"$deltatoken": "latest", "$select": delta_parts.OWN}  # new and deleted groups
        wanted.append((delta_parts.PROPS, ep.GROUPS_DELTA, own))
    count = count and source.settings.partition_users != "off"
    if source.settings.batch:
        links, counted = await _in_one_call(source, wanted, count)
    else:
        links, counted = await _side_by_side(source, wanted, count, scratch)
    if managers and "users_delta" in links:
        links[entra_delta.MANAGERS_TRACKED] = "yes"
    if "users_delta" in links:
        links[entra_delta.SELECTED] = ",".join(source.user_fields)
    keys = ["users_delta", "groups_delta", delta_parts.PROPS, entra_delta.MANAGERS_TRACKED]
    keys.append(entra_delta.SELECTED)
    return {key: links[key] for key in keys if key in links}, counted


async def _in_one_call(
    source: EntraSource, wanted: list[tuple[str, Endpoint, dict[str, str]]], count: bool
) -> tuple[dict[str, str], int | None]:
    """The links (and the count) as the items of one batch call."""
    scratch = Snapshot()  # a link that fails is only missing; a fatal failure is raised
    rounds = DeltaRounds(source.http, scratch, size=source.settings.batch_size)
    taken = {key: rounds.start(endpoint, params, scratch) for key, endpoint, params in wanted}
    counted = (
        rounds.single(ep.USERS, partitions.COUNT, scratch, partitions.EVENTUAL) if count else None
    )
    rounds.close()
    await rounds.run()
    links = {key: r.link for key, f in taken.items() if (r := f.result()) is not None}
    return links, partitions.count_of(counted.result()) if counted is not None else None


async def _side_by_side(
    source: EntraSource,
    wanted: list[tuple[str, Endpoint, dict[str, str]]],
    count: bool,
    scratch: Snapshot,
) -> tuple[dict[str, str], int | None]:
    """The links (and the count) as requests of their own, at once."""
    links: dict[str, str] = {}
    counted: list[int | None] = [None]

    async def users_count() -> None:
        counted[0] = await partitions.user_count(source.http)

    async def take(key: str, endpoint: Endpoint, params: dict[str, str]) -> None:
        call = source.http.get_json(endpoint, params=params)
        page = await source._guard(scratch, endpoint, call)
        link = page.get("@odata.deltaLink") if isinstance(page, dict) else None
        if isinstance(link, str) and link and same_origin(source.http.target(endpoint).url, link):
            links[key] = link  # a link elsewhere is never kept (nor followed next time)

    await gather(  # the HTTP budget bounds them; a failure cancels the rest
        *(take(key, endpoint, params) for key, endpoint, params in wanted),
        *([users_count()] if count else []),
    )
    return links, counted[0]


class PartLinks:
    """The groups delta partitions' links, taken in the full read's rounds (module doc)."""

    def __init__(self, reader: DeltaRounds, links: dict[str, str]) -> None:
        self.reader = reader
        self.links = links
        self.usable = "groups_delta" in links and delta_parts.PROPS in links
        self.scratch = Snapshot()
        self.seen: set[str] = set()
        self.pending: list[str] = []
        self.parts: list[tuple[list[str], asyncio.Future[Round | None]]] = []
        self.listed = asyncio.Event()
        self.gap: asyncio.Future[Round | None] | None = None

    def named(self, group_ids: list[str]) -> None:
        """Groups a groups page named: a partition's link for every :data:`MAX_IDS` of them."""
        self.pending += [i for i in dict.fromkeys(group_ids) if i not in self.seen]
        self.seen.update(group_ids)
        while len(self.pending) >= delta_parts.MAX_IDS:
            self._start(self.pending[: delta_parts.MAX_IDS])
            del self.pending[: delta_parts.MAX_IDS]

    def listed_all(self) -> None:
        """The groups listing has ended: the last partition, then the check may start."""
        if self.pending:
            self._start(self.pending)
            self.pending = []
        self.listed.set()

    def _start(self, ids: list[str]) -> None:
        if not self.usable:
            return
        params = {
            "$deltatoken": "latest",
            "$select": delta_parts.WITH_MEMBERS,
            "$filter": delta_parts.id_filter(ids),
        }
        name = f"{ep.GROUPS_DELTA.label} (partition {len(self.parts) + 1})"
        self.parts.append(
            (ids, self.reader.start(ep.GROUPS_DELTA, params, self.scratch, name, True))
        )

    async def check(self) -> None:
        """A producer of the reader: the check once every partition's link is in."""
        try:
            await self.listed.wait()
            results = [await future for _, future in self.parts]
            if self.usable and self.parts and None not in results and self.scratch.complete:
                link = self.links["groups_delta"]
                self.gap = self.reader.resume(ep.GROUPS_DELTA, link, self.scratch, spare=True)
                await self.gap
        finally:
            self.reader.close()

    def saved(self) -> dict[str, Any]:
        """The links to save after a complete read: with the partitions' when all were taken."""
        changed = self.gap.result() if self.gap is not None and self.gap.done() else None
        if changed is None or self.reader.expired or not self.scratch.complete:
            return self.links
        touched = {usable_id(i.get("id")) if isinstance(i, dict) else None for i in changed.items}
        if None in touched:  # an item that could be any group: no partition is trusted
            return self.links
        saved: dict[str, Any] = {k: v for k, v in self.links.items() if k != "groups_delta"}
        saved[delta_parts.PARTS] = [[ids, r.link] for ids, f in self.parts if (r := f.result())]
        if touched:
            saved[delta_parts.UNTRACKED] = sorted(str(i) for i in touched)
        return saved
