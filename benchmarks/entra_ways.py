"""The ways Graph lets a client list Entra's users and memberships, counted for the API floor.

:func:`benchmarks.floors.entra` takes each way here whole (its requests, resource units and
chain) and keeps the best. The facts behind them are in :mod:`benchmarks.floors`' docstring.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from benchmarks.profiles import Shape, pages

ENTRA_EXPAND_CAP = 20
"""Most related objects an ``$expand`` returns on directory objects (no next link)."""
ENTRA_UPN_FIRST_CHARS = 44
ENTRA_UPN_SECOND_CHARS = 45
"""The 44 characters a UPN may hold, and ``@`` after a one-character alias."""
ENTRA_PARTITION_PROOF = 2
"""The tenant's user count (``$count``) before and after the partitions, which must match the
users read: the proof that the partitions covered everyone (else one chain is read again)."""
ENTRA_MEMBEROF_PAGE = 100
"""Page of ``/users/{id}/memberOf`` and ``/groups/{id}/memberOf`` (not documented: assumed the
default page of directory listings, 100)."""


@dataclass(frozen=True)
class UserWay:
    """One way to list every user once at 100 a page."""

    how: str
    requests: int
    """Pages, an empty partition one request each; the proof's counts not included."""
    chain: int
    """The longest listing's pages plus the proof's counts (all on the partitions' chain)."""
    proof: int


def user_ways(shape: Shape) -> list[UserWay]:
    """One chain; or ``startswith(userPrincipalName, …)`` partitions: by first character
    (44), by two characters (44 × 45), or by first character with those of more than ``t``
    users split by two characters, for every ``t`` that splits a different set."""
    whole = pages(shape.users, 100)
    ways = [UserWay("in one chain", whole, whole, 0)]
    cuts: list[tuple[str, list[int], int]] = []  # (how, users of each partition, empty ones)
    if shape.user_parts:
        parts = list(shape.user_parts)
        cuts.append(("by UPN first character", parts, ENTRA_UPN_FIRST_CHARS - len(parts)))
    firsts: Counter[str] = Counter()
    for pair, n in shape.user_pairs:
        firsts[pair[:1]] += n
    if shape.user_pairs:
        every = ENTRA_UPN_FIRST_CHARS * ENTRA_UPN_SECOND_CHARS
        counts = [n for _, n in shape.user_pairs]
        cuts.append(("by UPN first two characters", counts, every - len(counts)))
        for t in [0, *sorted(set(firsts.values()))[:-1]]:
            split = {c for c, n in firsts.items() if n > t}
            pairs = [n for pair, n in shape.user_pairs if pair[:1] in split]
            kept = [n for c, n in firsts.items() if c not in split]
            empty = ENTRA_UPN_FIRST_CHARS - len(firsts) + ENTRA_UPN_SECOND_CHARS * len(split)
            how = f"by UPN first character, the {len(split)} with over {t:,} users by two"
            if not t:
                how = f"by UPN first character, all {len(split)} non-empty ones by two"
            cuts.append((how, pairs + kept, empty - len(pairs)))
    for how, parts, empty in cuts:
        each = [pages(n, 100) for n in parts]
        proof = ENTRA_PARTITION_PROOF
        ways.append(UserWay(how, sum(each) + empty, max(each) + proof, proof))
    return ways


@dataclass(frozen=True)
class MembersSide:
    """What reading memberships from the members' side adds to a users way (one pass)."""

    inner: int
    """Requests inside batch calls: both users passes, the proof, groups, paged expansions."""
    units: int
    chain: int
    how: str


def members_side(shape: Shape, way: UserWay) -> MembersSide | None:
    """Users twice (``$expand=memberOf``, then ``$expand=manager``: one expansion a request),
    each user whose expansion holds 20 paged apart (``/users/{id}/memberOf``, named at best by
    its partition's first page: exact while it has at most 100 groups, as its one page then
    ends no later than the partitions' closing count), groups at 100 a page with
    ``$expand=memberOf`` in one chain (displayNames have no closed first-character set), each
    group with 20 parents paged apart after the groups page naming it. ``None`` when the shape
    does not say who has how many groups."""
    if shape.user_groups is None or shape.group_parents is None:
        return None
    size = ENTRA_MEMBEROF_PAGE
    users = [pages(n, size) for n in shape.user_groups if n >= ENTRA_EXPAND_CAP]
    groups = [
        (i, pages(p, size)) for i, p in enumerate(shape.group_parents) if p >= ENTRA_EXPAND_CAP
    ]
    group_pages = pages(shape.groups, 100)
    apart = sum(users) + sum(n for _, n in groups)
    chain = max(
        way.chain,
        group_pages,
        *(min(1, way.proof) + 1 + n for n in users),
        *(i // 100 + 1 + n for i, n in groups),
    )
    inner = 2 * way.requests + way.proof + group_pages + apart
    # RU: users 2 + 1 expand − 1 select (the counts as users), groups 1, memberOf listings 1
    units = 2 * (2 * way.requests + way.proof) + group_pages + apart
    how = (
        f"memberships from the members' side: users {way.how}, twice at 100 a page "
        "($expand=memberOf, then $expand=manager), a user with 20 groups paged apart; "
        "groups with $expand=memberOf at 100 a page"
    )
    return MembersSide(inner, units, chain, how)


def entra_shape(
    shape: Shape,
    aliases: Mapping[str, str],
    edges: Iterable[tuple[str, str]],
    groups: Sequence[str],
) -> Shape:
    """``shape`` with Entra's users per first and per two characters of the UPN (``aliases``:
    user id → alias, lowercased here), each user's direct groups if 20 or more, and each
    group's parents in listing order (``groups``), from ``(group, member)`` ``edges``."""
    listed = set(groups)
    counts: Counter[str] = Counter()
    for _, member in edges:
        if member in listed or member in aliases:
            counts[member] += 1
    firsts = Counter(a[:1].lower() for a in aliases.values())
    pairs = Counter((a + "@")[:2].lower() for a in aliases.values())  # the UPN's two
    heavy = sorted(counts[u] for u in aliases if counts[u] >= ENTRA_EXPAND_CAP)
    return replace(
        shape,
        user_parts=list(firsts.values()),
        user_pairs=sorted(pairs.items()),
        user_groups=heavy,
        group_parents=[counts[g] for g in groups],
    )
