"""The API floor of a full read: what any client could reach with the API's documented features.

:mod:`benchmarks.profiles` keeps the connector's own *design* floor (its page sizes, its
concurrency, its chains). This module is independent of the connector: for a tenant shape it
takes the cheapest documented way to read everything and gives

- the **API minimum**: HTTP round trips (with ``$batch``/batch calls counted as one) and, where
  they differ, the **quota units** charged (Graph resource units, Google queries);
- the **API floor** = max(quota floor with each endpoint in its own documented bucket, the
  longest chain of round trips that cannot be split × latency, ⌈round trips / cap⌉ × latency)
  at a stated concurrency cap (Okta by tier: 15 / 35 / 75; the others 32).

Where several strategies exist (Entra: memberships from the groups' side, with
``$expand=members`` or plain member listings, or from the members' side with
``$expand=memberOf``; users partitioned or in one chain) each is counted whole and each
quantity is the best over the strategies, so the request minimum and the floor may come from
different strategies; both stay lower bounds.
Every round trip, the token request included, costs the profile's latency (a batch call too:
the emulators answer a batch in one latency).

Facts used (``limits-and-scale.md`` §2 and §4, ``idp-apis.md`` §9; checked where marked):

- Graph: 8,000 RU per 10 s for a tenant over 500 users (token bucket, full at start); GET
  ``users`` 2 RU, ``groups/{id}/members`` 3 RU, ``groups`` 1 RU; ``$select`` −1, ``$expand``
  +1, minimum 1 (learn.microsoft.com/graph/throttling-limits). ``$batch`` holds at most 20
  requests and each is charged on its own (learn.microsoft.com/graph/json-batching). ``$top``
  up to 999. ``$expand`` on directory objects caps the outer page at 100 (Graph known issue
  13635, confirmed: techcommunity.microsoft.com thread 3885391) and returns at most 20 expanded
  objects without a next link (learn.microsoft.com/graph/query-parameters#expand), so a group
  whose expansion holds 20 is paged apart. Users are partitioned by
  ``startswith(userPrincipalName, c)`` over the 44 characters a UPN may contain (A–Z, 0–9,
  ``' . - _ ! # ^ ~``; Graph's user resource, learn.microsoft.com/graph/api/resources/user, as
  the Entra connector's partitions cite it; my own search of the docs corpus did not find the
  page), plus the two ``$count`` requests that prove the partitions complete; members of one
  group are one chain (no documented consistent split).
- Graph, the members' side (:mod:`benchmarks.entra_ways`): ``memberOf`` "Supports
  ``$expand``" on users and on groups (learn.microsoft.com/graph/api/resources/user,
  …/resources/group), under the same 20-object rule, so a user or group whose expansion holds
  20 is paged apart (``/users/{id}/memberOf``, ``/groups/{id}/memberOf``: 1 RU, a path the RU
  table does not list; 100 a page, assumed: the page is not documented). For some APIs "only
  one relationship can be expanded in a single request" (query-parameters#expand), users
  among them (microsoftgraph/microsoft-graph-docs#96, a Microsoft answer), so managers take a
  second users pass with ``$expand=manager`` over the same partitions. ``$expand`` does not
  combine with advanced queries (``ConsistencyLevel: eventual``, ``$count``;
  learn.microsoft.com/graph/aad-advanced-queries): the proof's counts stay separate requests;
  ``startswith(userPrincipalName, …)`` needs none, at any prefix length (two characters:
  44 × 45 prefixes, ``@`` following a one-character alias). Groups with ``$expand=memberOf``
  are one chain at 100 a page (displayNames have no closed first-character set).
- Google Directory: users 500 a page, groups and members 200; 2,400 queries/min (token
  bucket). Batch: at most 1,000 calls per batch request, each counted against the quota
  (checked: developers.google.com/admin-sdk/directory/v1/guides/batch). Users are one chain.
- Okta: users ``limit`` 200, groups 10,000, group members 1,000. Per-minute buckets in fixed
  windows by tier (rl-global-mgmt): users / groups / ``groups/{id}`` / other. The table does
  not say where ``/api/v1/groups/{id}/users`` is charged; the floor puts it in the
  ``/api/v1/groups/{id}`` bucket, like the emulator (``emulators/okta/limits.py``), because the
  rate-limit table's rows are path prefixes and ``groups/{id}/users`` falls under
  ``groups/{id}``. Users are partitioned by status (``search=status eq "…"``, 8 statuses; a
  generous bound: a transitional ``ACTIVATING`` outside the enum makes it unprovable). The
  split that provably covers everyone is by ``lastUpdated`` ranges (``filter`` allows
  ``lt``/``ge`` on it, and is consistent; ``search`` ranges on ``profile.login`` cover only an
  eventually consistent index): its longest chain is the pages of the users sharing one
  ``lastUpdated`` value. The generated tenants give every seeded user the same value, so it
  splits nothing there and the status split stays the floor's (the lower of the two).
  API tokens (SSWS) need no token request.
- OneLogin v2: 50 users a page (the emulator caps a larger ``limit`` at 50); once the first page
  gives ``Total-Pages`` every other page is fetched by ``page=N`` in parallel; groups and roles
  50 a page; memberships embedded in the users; 5,000 calls per hour for the account.
- Keycloak: no rate limit. Brief users with any ``max`` (one request), top-level groups in one
  request, each parent's children in one, each group's members with ``max`` ≥ its size (one
  request). Server cost per request: latency + rows × ``row_cost_us`` + offset ×
  ``offset_cost_us`` (the Keycloak emulator's cost model: its CLI defaults, 25 and 10 µs).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from benchmarks.entra_ways import ENTRA_EXPAND_CAP, members_side, user_ways
from benchmarks.profiles import Profile, Shape, fixed_window_floor, pages, token_bucket_floor

ENTRA_BATCH = 20
ENTRA_DELTA_IDS = 50
"""Most ids in a delta query's ``$filter=id eq … or …``."""
ENTRA_DELTA_LINKS = 500
"""About the most ``members@delta`` entries Graph sends on one delta page."""
GOOGLE_BATCH = 1000
OKTA_STATUSES = 8
OKTA_TIERS: dict[str, tuple[dict[str, int], int]] = {
    "free": ({"users": 100, "groups": 100, "group": 100, "other": 100}, 15),
    "enterprise": ({"users": 600, "groups": 600, "group": 600, "other": 600}, 35),
    "workforce": ({"users": 600, "groups": 500, "group": 1000, "other": 1200}, 75),
}
"""Per-minute limits and concurrent requests by Okta tier (limits-and-scale.md §2)."""


@dataclass(frozen=True)
class ApiFloor:
    """The API's minimum for one tenant shape and its floor in seconds."""

    requests: int
    """HTTP round trips (a batch call is one)."""
    units: int
    """Quota units charged (Graph RU, Google queries, Okta/OneLogin calls)."""
    chain: int
    """Round trips of the longest sequence that cannot be split."""
    quota_s: float
    chain_s: float
    cap_s: float
    cap: int
    features: str

    @property
    def floor_s(self) -> float:
        """The largest of the quota, chain and concurrency floors."""
        return max(self.quota_s, self.chain_s, self.cap_s)

    def fields(self) -> dict[str, float | int | str]:
        """The result-row fields (``api_…``)."""
        return {
            "api_minimum": self.requests,
            "api_units": self.units,
            "api_chain": self.chain,
            "api_quota_s": round(self.quota_s, 1),
            "api_chain_s": round(self.chain_s, 1),
            "api_cap_s": round(self.cap_s, 1),
            "api_floor_s": round(self.floor_s, 1),
            "api_cap": self.cap,
        }


def split_listing(
    total: int, parts: Sequence[int], page: int, partitions: int, proof: int = 0
) -> tuple[int, int]:
    """(requests, chain) of a listing read as ``partitions`` parallel chains of ``parts``, or
    as one chain, whichever is less for each.

    Partitions with no items still cost one request; ``proof`` requests (one before the
    partitions, the rest after) are added to the partitioned way to prove it complete.
    Without known parts, one chain."""
    whole = pages(total, page)
    if not parts:
        return whole, whole
    requests = sum(pages(n, page) for n in parts) + max(0, partitions - len(parts)) + proof
    return min(whole, requests), min(whole, max(pages(n, page) for n in parts) + proof)


def _finish(
    lat: float, cap: int, inner: int, units: int, chain: int, batch: int, quota_s: float, note: str
) -> ApiFloor:
    """Round trips = token + max(⌈inner/batch⌉, chain); the three floors at ``cap``."""
    trips = 1 + max(math.ceil(inner / batch), chain)
    return ApiFloor(
        requests=trips,
        units=units,
        chain=chain + 1,
        quota_s=quota_s,
        chain_s=(chain + 1) * lat,
        cap_s=math.ceil(trips / cap) * lat,
        cap=cap,
        features=note,
    )


def entra(shape: Shape, lat: float, cap: int = 32) -> ApiFloor:
    """Graph with ``$batch``, users in one chain or partitioned (:func:`user_ways`), and
    memberships from the groups' side (users with ``$expand=manager``; groups either with
    ``$expand=members``, groups whose expansion is full paged apart, or at 999 with every
    group's members listed) or, when the shape knows who has how many groups, from the
    members' side (:func:`benchmarks.entra_ways.members_side`). Each strategy's requests,
    units and chain are its own; the floor is the strategy with the lowest (then the fewest
    requests and units), and the request minimum the fewest requests of any strategy (until
    2026-12-06 the users' requests and chain were each the lower of the two ways within one
    strategy: the one chain's requests with the partitions' chain, which no client can do at
    once; 126 instead of 128 at L)."""
    members = list(shape.members) or [0]
    ways = user_ways(shape)
    paged = [m for m in members if m >= ENTRA_EXPAND_CAP]
    options = []
    for expand in (True, False):
        listed = paged if expand else members
        group_pages = pages(shape.groups, 100 if expand else 999)
        member_pages = sum(pages(m, 999) for m in listed)
        # a group's chain starts after the groups page that names it (``members`` in listing
        # order; until 2026-12-06: as if the largest group were on the first page)
        page = 100 if expand else 999
        member_chain = max(
            (
                n // page + 1 + pages(m, 999)
                for n, m in enumerate(members)
                if not expand or m >= ENTRA_EXPAND_CAP
            ),
            default=0,
        )
        for way in ways:
            users = way.requests + way.proof
            chain = max(way.chain, group_pages, member_chain)
            units = 2 * users + group_pages + 2 * member_pages  # users 2+1−1, groups 1, members 3−1
            note = (
                f"$batch of {ENTRA_BATCH}, users {way.how} ($expand=manager, 100 a page), "
                + ("groups with $expand=members (100 a page)" if expand else "groups at 999")
                + ", members at 999; 8,000 RU/10 s"
            )
            inner = users + group_pages + member_pages
            quota = token_bucket_floor(units, 8000, 10.0)
            options.append(_finish(lat, cap, inner, units, chain, ENTRA_BATCH, quota, note))
    for way in ways:
        side = members_side(shape, way)
        if side is not None:
            note = f"$batch of {ENTRA_BATCH}, {side.how}; 8,000 RU/10 s"
            quota = token_bucket_floor(side.units, 8000, 10.0)
            options.append(
                _finish(lat, cap, side.inner, side.units, side.chain, ENTRA_BATCH, quota, note)
            )
    best = min(options, key=lambda f: (f.floor_s, f.requests, f.units))
    fewest = min(options, key=lambda f: (f.requests, f.units))
    return replace(best, requests=fewest.requests, units=fewest.units)


def google(shape: Shape, lat: float, cap: int = 32) -> ApiFloor:
    """Directory API with batch requests of up to 1,000 calls, each charged to the quota."""
    members = list(shape.members) or [0]
    users = pages(shape.users, 500)
    groups = pages(shape.groups, 200)
    member_pages = sum(pages(m, 200) for m in members)
    chain = max(users, 1 + pages(max(members), 200))
    inner = users + groups + member_pages
    quota = token_bucket_floor(inner, 2400, 60.0)
    note = "batch of 1,000, users at 500, groups and members at 200; 2,400 queries/min"
    return _finish(lat, cap, inner, inner, chain, GOOGLE_BATCH, quota, note)


def okta(shape: Shape, lat: float, tier: str = "workforce") -> ApiFloor:
    """Okta users by status, groups in one page, members at 1,000, each bucket on its own."""
    if tier not in OKTA_TIERS:
        raise ValueError(f"unknown Okta tier {tier!r}; choose from {', '.join(OKTA_TIERS)}")
    limits, cap = OKTA_TIERS[tier]
    members = list(shape.members) or [0]
    users, users_chain = split_listing(shape.users, shape.user_parts, 200, OKTA_STATUSES)
    if not shape.user_parts:
        users, users_chain = users + 1, users_chain  # + the DEPROVISIONED listing
    groups = pages(shape.groups, 10_000)
    member_pages = sum(pages(m, 1000) for m in members)
    quota = max(
        fixed_window_floor(users, limits["users"], 60.0),
        fixed_window_floor(groups, limits["groups"], 60.0),
        fixed_window_floor(member_pages, limits["group"], 60.0),
    )
    chain = max(users_chain, groups + pages(max(members), 1000))
    trips = users + groups + member_pages
    note = (
        f"{tier} tier: users {limits['users']}/min by status at 200, groups/{{id}}/users in the "
        f"groups/{{id}} bucket {limits['group']}/min at 1,000"
    )
    return ApiFloor(
        trips, trips, chain, quota, chain * lat, math.ceil(trips / cap) * lat, cap, note
    )


def onelogin(shape: Shape, lat: float, cap: int = 32) -> ApiFloor:
    """OneLogin v2 pages by ``page=N`` in parallel once ``Total-Pages`` is known; the v1
    groups listing (``/api/1/groups``: ``after_cursor`` only, no total, no page numbers) is a
    chain after the token."""
    trips = 1 + pages(shape.users, 50) + pages(shape.groups, 50) + pages(shape.roles, 50)
    quota = fixed_window_floor(trips, 5000, 3600.0)
    note = "v2 page=N in parallel, 50 a page, memberships embedded; v1 groups a chain; 5,000/h"
    # token, first page (Total-Pages), any other page; or the token and the groups chain
    chain = max(3, 1 + pages(shape.groups, 50)) if shape.groups else 3
    return ApiFloor(
        trips, trips, chain, quota, chain * lat, math.ceil(trips / cap) * lat, cap, note
    )


def keycloak(
    shape: Shape, lat: float, cap: int = 32, row_cost_us: float = 0.0, offset_cost_us: float = 0.0
) -> ApiFloor:
    """Keycloak: users in one brief request (or slices, if offsets are cheap), members each in
    one request, under the emulator's per-row and per-offset server cost."""
    row, offset = row_cost_us / 1e6, offset_cost_us / 1e6
    members = list(shape.members) or [0]
    users_s = min(
        lat + math.ceil(shape.users / k) * row + (k - 1) * math.ceil(shape.users / k) * offset
        for k in range(1, cap + 1)
    )
    groups = 1 + shape.parents
    trips = 1 + 1 + groups + len(members)
    work = (
        lat * trips + (shape.users + shape.groups + sum(members)) * row
    )  # every request's duration, users in one request
    group_chain_s = lat * (1 + shape.depth) + shape.groups * row + lat + max(members) * row
    chain_s = lat + max(users_s, group_chain_s)
    chain = 3 + shape.depth  # token, groups, each nested level's children, members
    note = (
        f"brief users in one request, members with a large max; server cost {row_cost_us} µs "
        f"a row, {offset_cost_us} µs an offset row"
    )
    return ApiFloor(trips, trips, chain, 0.0, chain_s, work / cap, cap, note)


def nesting_depth(edges: set[tuple[str, str]]) -> int:
    """Levels below the top of the deepest nested group (parent, child edges; cycles cut)."""
    children: dict[str, list[str]] = {}
    for parent, child in edges:
        children.setdefault(parent, []).append(child)
    best = 0
    for top in children:
        level, seen, frontier = 0, {top}, [top]
        while frontier:
            frontier = [c for p in frontier for c in children.get(p, []) if c not in seen]
            seen.update(frontier)
            level += bool(frontier)
        best = max(best, level)
    return best


def api_floor(profile: Profile, shape: Shape) -> ApiFloor:
    """The API floor of ``profile``'s IdP for ``shape`` at the profile's latency and cap."""
    lat = profile.latency_ms / 1000
    by_idp: dict[str, Callable[[], ApiFloor]] = {
        "entra": lambda: entra(shape, lat, profile.api_cap),
        "google": lambda: google(shape, lat, profile.api_cap),
        "okta": lambda: okta(shape, lat, profile.okta_tier or "workforce"),
        "onelogin": lambda: onelogin(shape, lat, profile.api_cap),
        "keycloak": lambda: keycloak(
            shape, lat, profile.api_cap, profile.row_cost_us, profile.offset_cost_us
        ),
    }
    return by_idp[profile.idp]()


def okta_incremental_chain(stats: dict[str, Any]) -> int:
    """The longest chain of an Okta incremental read the API cannot split, from the run's stats.

    The changed users are one chain at 200 a page (``changed_users``); the groups one page. The
    System Log's bounded windows can be read from both ends at once and by event type
    (``filter=eventType eq …``), each filter's chains meeting half way: ``⌈E_f / 2000⌉`` round
    trips for the ``E_f`` events of filter ``f`` (``system_log_chains``). Equal time windows are
    not counted as a split: a burst is published within milliseconds.
    """
    users = pages(int(stats.get("changed_users") or 0), 200)
    chains = stats.get("system_log_chains") or {}
    log = [
        pages(int(window.get("events") or 0), 2000)
        for name, window in chains.items()
        if name != "first page" and isinstance(window, dict)
    ]
    return max([1, users, *log])


def entra_incremental_chain(stats: dict[str, Any], groups: int) -> int:
    """The longest chain of an Entra incremental read the API cannot split, from the run's stats.

    The users delta is one chain of ``⌈changed users / 200⌉`` pages (its new users are only in
    an unfiltered round). The groups delta takes ``$filter=id eq … or …`` with at most 50 ids
    (learn.microsoft.com/graph/api/group-delta; limits-and-scale.md §4), so its ``L`` member-link
    changes can be spread over ``⌈G / 50⌉`` rounds read side by side: ``⌈L / ⌈G / 50⌉ / 500⌉``
    pages each at best (500 links a page), instead of one chain of ``⌈L / 500⌉``. (Until
    2026-12-06 the floor counted no chain for Entra: 1.)
    """
    users = pages(int(stats.get("changed_users") or 0), 200)
    parts = max(1, math.ceil(groups / ENTRA_DELTA_IDS))
    links = int(stats.get("changed_links") or 0)
    return max(1, users, math.ceil(links / parts / ENTRA_DELTA_LINKS))
