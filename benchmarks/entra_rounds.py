"""Batch calls of the Entra connector's full read, round by round (its request formula).

The connector (``sources/entra/batch.py``, ``packing.py``, ``full_links.py``) reads every
listing in rounds of ``$batch`` calls. A round's *due* pages (the next page of a listing under
way, the users and the groups listings' first pages, a page that waited once) go in
``ceil(due / size)`` calls; its *spare* ones (a group's first member page, a delta partition's
``latest`` link, the count after the users partitions, the check of the groups delta) fill the
room and make more calls only while they are whole (``⌊(due + spare) / size⌋``); a spare page
that did not fit waits one round. With ``sized`` (a tenant of at least
``partitions.SIZED_MIN_PAGES`` pages) round 1 also carries the 44 partitions' counts, and from
round 2 each partition's listing may wait while it has slack (``packing.Rounds``, the
connector's own planner, used here as is). This replays that for a tenant's shape,
deterministically: the result is the number of batch calls of the listing rounds (not the
token, not the one call of delta links and count before them).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from idpsync.sources.entra.packing import Rounds

MAX_IDS = 50
"""Ids in one groups delta partition (``delta_parts.MAX_IDS``)."""


PARTITIONS = 44
"""Users partitions, each counted in round 1 when ``sized`` (``partitions.FIRST``)."""


@dataclass
class _Item:
    left: int
    spare: bool
    kind: str
    held: bool = False
    read: int = 0
    total: Callable[[], int | None] | None = None

    @property
    def pages(self) -> int:
        return self.read


def _known(pages: int) -> Callable[[], int | None]:
    """A partition's pages as its count tells them (``partitions.pages_of``)."""
    return lambda: pages


def read_calls(
    chains: Sequence[int],
    groups_pages: Sequence[tuple[int, Sequence[int]]],
    *,
    size: int = 20,
    split: bool = True,
    count_after: int = 0,
    apart: Sequence[int] = (),
    sized: bool = False,
) -> int:
    """Batch calls of a full read's listing rounds.

    ``chains``: the pages of each users listing (a partition, or the one chain), from round 1;
    ``groups_pages``: for each page of the groups listing, how many groups it holds and the
    member pages of each of them that is listed apart (in listing order); ``split``: the groups
    delta partitions' links and the check ride in the rounds; ``count_after``: the users are
    partitioned (that many counts after their last page: two with the members' side's two
    passes); ``apart``: the pages of the listings named by the users' first pages (from the
    members' side, each user whose ``memberOf`` expansion holds 20), spare from round 2;
    ``sized``: the partitions are counted in round 1 (each chain's length known from round 2)."""
    users = [_Item(c, False, "users") for c in chains]
    todo = [*users, _Item(max(1, len(groups_pages)), False, "groups")]
    todo += [_Item(1, False, "size") for _ in range(PARTITIONS if sized else 0)]
    users_left, ids, links, made, checked, calls = len(chains), 0, 0, 0, False, 0
    rounds, planner = 0, Rounds()
    while todo:
        rounds += 1
        send, held = planner.choose(todo, size)
        calls += math.ceil(len(send) / size)
        later: list[_Item] = []
        fresh: list[_Item] = []
        woken: list[_Item] = []
        for x in send:
            x.left, x.read = x.left - 1, x.read + 1
            if x.kind == "groups":
                count, members = groups_pages[x.read - 1] if groups_pages else (0, ())
                fresh += [_Item(p, True, "members") for p in members]
                ids += count if split else 0
                while ids >= MAX_IDS or (x.left == 0 and ids > 0):
                    fresh.append(_Item(1, True, "link"))
                    ids, links, made = max(0, ids - MAX_IDS), links + 1, made + 1
            elif x.kind == "link":
                links -= 1
            elif x.kind == "users" and x.left == 0:
                users_left -= 1
                if users_left == 0:
                    woken += [_Item(1, True, "count") for _ in range(int(count_after))]
            if x.left > 0:
                x.spare = False
                later.append(x)
        listed = not any(x.kind == "groups" for x in later)
        if split and made and listed and links == 0 and not checked:
            woken.append(_Item(1, True, "check"))
            checked = True
        if rounds == 1:
            fresh += [_Item(p, True, "members") for p in apart]
            for chain in users if sized else ():
                chain.total = _known(chain.left + chain.read)
        todo = held + later + fresh + woken
    return calls
