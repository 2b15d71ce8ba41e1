"""The groups delta split by group ids: many short rounds instead of one long chain.

One groups delta round is a chain of pages (each names the next): after a change touching
20,000 member links it is ≈40 pages one after the other. Graph's delta query takes one filter,
by object id (``$filter=id eq '…' or id eq '…'``, at most :data:`MAX_IDS` ids, kept in the
round's links like ``$select``). So the known groups are split into *partitions* of up to 50
ids, each with a delta link of its own (``$select=displayName,description,members``), and one
unfiltered round without ``members`` tracks the groups' own properties only: it names new and
deleted groups (Graph tracks only the selected properties, so membership changes do not list a
group there). An incremental run reads the partitions' rounds side by side in ``$batch`` calls
(:mod:`~idpsync.sources.entra.delta_batch`), each a page or two.

**Links of a full read.** The unfiltered link (:data:`PROPS`) is taken with the others,
before the listing; the partitions' links as the groups pages name the groups, in the listing's
own batch calls, then the check of the read's own groups delta link
(:mod:`~idpsync.sources.entra.full_links`): the groups it names were changed during the read,
and are kept as :data:`UNTRACKED`. When anything there fails, no partition is saved and the
next run follows the single chain, as before.

**An incremental run.** Every partition's round and the unfiltered one; then, in the same batch
rounds, a *first* filtered round (no token: all members and a delta link) for the groups no
partition tracks: new ones the unfiltered round names, and :data:`UNTRACKED` ones. Their member
lists are whole, so their staged edges that are not listed are removed (:func:`replace_members`),
and they become new partitions. A token Graph no longer knows (``syncStateNotFound``) in any
round makes the run a full read; any other failure marks the read incomplete (the old links are
kept, nobody is removed). State saved by an older version (no partitions) is read through the
single chain until the next full read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from idpsync.model import Membership, Snapshot
from idpsync.sources.base import DeltaResult
from idpsync.sources.clean import usable_id
from idpsync.sources.entra import endpoints as ep
from idpsync.sources.entra.delta_batch import DeltaRounds, Expired, Round
from idpsync.sources.lanes import both

if TYPE_CHECKING:
    import asyncio

    from idpsync.sources.entra.partitions import PartitionReads as EntraSource

PARTS = "groups_parts"
"""State key: ``[[ids, delta link], …]``, one per partition."""
PROPS = "groups_props"
"""State key: the delta link of the unfiltered round without members."""
UNTRACKED = "groups_untracked"
"""State key: ids of groups changed during the full read (read whole by the next run)."""
MAX_IDS = 50
"""Most ids in one delta query's ``$filter`` (Graph's limit)."""
OWN = "displayName,description"
WITH_MEMBERS = "displayName,description,members"


def id_filter(ids: list[str]) -> str:
    """``id eq '…' or id eq '…'`` (a quote in an id doubled, as OData escapes it)."""
    return " or ".join("id eq '{}'".format(i.replace("'", "''")) for i in ids)


def chunks(ids: list[str]) -> list[list[str]]:
    """``ids`` in partitions of at most :data:`MAX_IDS`."""
    return [ids[n : n + MAX_IDS] for n in range(0, len(ids), MAX_IDS)]


def usable(source: EntraSource, state: dict[str, Any]) -> bool:
    """Whether ``state`` holds partitions to read (they ride in ``$batch`` calls: ``batch``)."""
    parts = state.get(PARTS)
    if not (parts and isinstance(parts, list) and state.get(PROPS) and source.settings.batch):
        return False
    return all(  # a state of another shape is not read: a full read replaces it
        isinstance(p, list)
        and len(p) == 2
        and isinstance(p[0], list)
        and all(isinstance(i, str) for i in p[0])
        and isinstance(p[1], str)
        for p in parts
    )


async def read_groups(
    source: EntraSource, result: DeltaResult, probe: Snapshot
) -> tuple[list[Any], set[str]]:
    """The groups delta's items from the partitions (see the module doc), and the groups read whole.

    ``result.state`` gets the new links when every round was read.
    """
    state = result.state
    parts = [([str(i) for i in ids], str(link)) for ids, link in state[PARTS]]
    rounds = DeltaRounds(source.http, probe, size=source.settings.batch_size)
    resumed = [
        rounds.resume(ep.GROUPS_DELTA, link, probe, _name(n)) for n, (_, link) in enumerate(parts)
    ]
    own = rounds.resume(ep.GROUPS_DELTA, str(state[PROPS]), probe, f"{ep.GROUPS_DELTA.label} (own)")
    tracked = {i for ids, _ in parts for i in ids}
    firsts: list[tuple[list[str], asyncio.Future[Round | None]]] = []

    async def newcomers() -> None:
        try:
            props = await own
            alive = [
                i
                for i in (props.items if props else [])
                if isinstance(i, dict) and "@removed" not in i
            ]
            named = [usable_id(i.get("id")) for i in alive]
            fresh = sorted({i for i in named if i is not None and i not in tracked})
            again = sorted({str(i) for i in state.get(UNTRACKED) or []} - set(fresh))
            for n, ids in enumerate(chunks(fresh) + chunks(again)):
                params = {"$select": WITH_MEMBERS, "$filter": id_filter(ids)}
                firsts.append(
                    (ids, rounds.start(ep.GROUPS_DELTA, params, probe, _name(len(parts) + n)))
                )
        finally:
            rounds.close()

    await both(rounds.run(), newcomers())
    if rounds.expired:
        raise Expired
    whole = {i for ids, _ in firsts for i in ids}
    items: list[Any] = []
    done = [f.result() for f in [own, *resumed]]
    for r in done[1:]:
        items += [i for i in r.items if not _in(i, whole)] if r else []
    items += done[0].items if done[0] else []
    read = [(ids, f.result()) for ids, f in firsts]
    for _, r in read:
        items += r.items if r else []
    if all(done) and all(r for _, r in read):
        links = [[ids, r.link] for (ids, _), r in zip(parts, done[1:], strict=True) if r]
        links += [[ids, r.link] for ids, r in read if r and not tracked.issuperset(ids)]
        state.update({PARTS: links, PROPS: done[0].link if done[0] else state[PROPS]})
        state.pop(UNTRACKED, None)
    return items, whole


def replace_members(result: DeltaResult, staged: Snapshot, whole: set[str]) -> None:
    """Groups read whole: their staged edges that were not listed again are removed."""
    if not whole:
        return
    listed = {(e.group_id, e.member_id) for e in result.added if e.group_id in whole}
    result.removed += [
        Membership(e.group_id, e.member_id, e.member_kind)
        for e in staged.edges_of_groups(whole)
        if (e.group_id, e.member_id) not in listed
    ]


def _in(item: object, ids: set[str]) -> bool:
    return isinstance(item, dict) and str(item.get("id")) in ids


def _name(n: int) -> str:
    return f"{ep.GROUPS_DELTA.label} (partition {n + 1})"
