"""Per-IdP benchmark profiles: emulator flags, latency, quota model and request minimum.

Everything here is pure arithmetic over a tenant's shape, so it is unit-tested
(``tests/benchmarks/test_profiles.py``). The formulas follow each connector's module docstring
and ``shared/reference/limits-and-scale.md`` §4; latencies are the [est] profile of §3.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from benchmarks.entra_rounds import read_calls
from idpsync.sources.entra.partitions import SIZED_MIN_PAGES


@dataclass(frozen=True)
class Size:
    """A benchmark tenant: users, groups, and the generator's density knob for memberships."""

    users: int
    groups: int
    medium_every: int
    """One group in this many holds 2–8 % of the users (``TenantSpec.medium_every``): chosen so
    that the generated tenant has about ten direct memberships per user."""


SIZES: dict[str, Size] = {"S": Size(10_000, 500, 3), "L": Size(100_000, 5_000, 32)}
"""S ≈ 100k memberships and L ≈ 1M with the seeded generator (one group of everyone, three of
10–30 %, the medium groups, the rest small and Pareto-distributed)."""


@dataclass(frozen=True)
class Shape:
    """What the request minimum depends on: user, group and per-group member counts."""

    users: int
    groups: int
    members: Sequence[int] = ()
    roles: int = 0
    user_parts: Sequence[int] = ()
    """Users per partition the API can list apart (Entra: by the first character of the
    userPrincipalName; Okta: by status); empty when unknown (one listing of everyone)."""
    parents: int = 0
    """Groups with sub-groups (Keycloak lists each one's children with one more request)."""
    depth: int = 0
    """Longest chain of nested groups (Keycloak discovers each level with one more request)."""
    user_pairs: Sequence[tuple[str, int]] = ()
    """Entra: users per two-character prefix of the userPrincipalName (lowercased), the
    non-empty prefixes only; empty when unknown."""
    user_groups: Sequence[int] | None = None
    """Entra: direct groups of each user in 20 or more (whose ``$expand=memberOf`` is full);
    ``None`` when unknown (the API floor then reads memberships from the groups' side only)."""
    group_parents: Sequence[int] | None = None
    """Entra: parent groups of each group, in listing order; ``None`` when unknown."""


def pages(n: int, size: int) -> int:
    """Pages of a listing of ``n`` items at ``size`` per page (an empty listing is one page)."""
    return max(1, math.ceil(n / size))


def batch_rounds(pages_each: Sequence[int], batch: int) -> int:
    """Batch calls for listings read in rounds: round ``k`` carries the ``k``-th page of every
    listing that has one, ``batch`` to a call."""
    top = max(pages_each, default=0)
    return sum(math.ceil(sum(1 for c in pages_each if c >= k) / batch) for k in range(1, top + 1))


def google_units(s: Shape) -> int:
    """Calls the quota counts for :func:`google_minimum` (each page inside a batch is one)."""
    return 1 + pages(s.users, 500) + pages(s.groups, 200) + sum(pages(m, 200) for m in s.members)


def google_minimum(s: Shape) -> int:
    """Token + users at 500 + groups at 200 + the member pages (200 each) in rolling batches of
    up to 1,000 calls (the connector's default ``batch_size``): at best one batch a page of the
    largest group's chain, or the pages over 1,000 to a batch, whichever is more."""
    each = [pages(m, 200) for m in s.members]
    members = max(max(each, default=0), math.ceil(sum(each) / 1000))
    return 1 + pages(s.users, 500) + pages(s.groups, 200) + members


def okta_minimum(s: Shape) -> int:
    """Users at 200 (+1 deprovisioned listing) + groups in one page + members at 1,000."""
    return (
        pages(s.users, 200) + 1 + pages(s.groups, 10_000) + sum(pages(m, 1000) for m in s.members)
    )


KEYCLOAK_PAGE = 1_000_000
"""The Keycloak connector's default ``max`` of a listing (``page_size``, ``members_page_size``)."""


def keycloak_minimum(s: Shape) -> int:
    """The connector's formula at its default pages (``P = M`` = 1,000,000), ``admin_events`` on.

    Token + users (offset pages until one is short: ``⌊U/P⌋ + 1``) + top-level groups (one
    page) + one children listing per group with sub-groups + each group's members
    (``⌊m/M⌋ + 1``) + ``events/config``; the base path is configured (no detection request).
    """
    p = KEYCLOAK_PAGE
    members = sum(m // p + 1 for m in s.members)
    return 1 + (s.users // p + 1) + 1 + s.parents + members + 1


def onelogin_minimum(s: Shape) -> int:
    """Token + rate-limit preflight + groups, roles and users at 50 (memberships embedded)."""
    return 2 + pages(s.groups, 50) + pages(s.roles, 50) + pages(s.users, 50)


ENTRA_PARTITIONS = 44
"""Characters a userPrincipalName may start with (``sources/entra/partitions.py``)."""
ENTRA_PARTITION_MIN_PAGES = 20
"""The connector's ``partition_min_pages`` default: fewer user pages are read as one chain."""


def listing_rounds(listings: Sequence[tuple[int, int]], batch: int = 20) -> int:
    """Batch calls for listings that each start in some round: ``(first round, pages)`` each;
    round ``r`` carries the page of every listing running in it, ``batch`` to a call."""
    last = max((start + count - 1 for start, count in listings), default=0)
    return sum(
        math.ceil(sum(1 for s, c in listings if s <= r < s + c) / batch) for r in range(1, last + 1)
    )


def entra_minimum(s: Shape) -> int:
    """The connector's formula at its defaults (managers, ``batch``, ``expand_members``,
    ``partition_users = "auto"``): token + one batch call of the delta links and the user count
    + the batch calls of the listing rounds (:func:`benchmarks.entra_rounds.read_calls`).

    The users from round 1 (with at least :data:`ENTRA_PARTITION_MIN_PAGES` pages of 100, since
    ``$expand=manager`` caps a page at 100, one listing per first character, an empty one a
    page, and a count after; else one chain), the groups with ``$expand=members`` at 100 a page
    from round 1, each group whose expansion is full (20 members or more) at 999 a page from
    the round after the groups page that lists it (``s.members`` in listing order), and the
    groups delta partitions' links (50 groups each) and their check, spare items of the rounds.
    """
    chain = pages(s.users, 100)
    users, parted = [chain], False
    if s.user_parts and chain >= ENTRA_PARTITION_MIN_PAGES:
        parts = list(s.user_parts) + [0] * max(0, ENTRA_PARTITIONS - len(s.user_parts))
        users, parted = [pages(n, 100) for n in parts], True
    if entra_members_side(s):  # memberships = "auto" on a partitioned tenant
        parents = list(s.group_parents or ())
        groups = [
            (min(100, s.groups - n), [pages(p, 999) for p in parents[n : n + 100] if p >= 20])
            for n in range(0, s.groups, 100)
        ]
        apart = [pages(n, 999) for n in s.user_groups or () if n >= 20]
        sized = chain >= SIZED_MIN_PAGES
        return 1 + 1 + read_calls(users * 2, groups, count_after=2, apart=apart, sized=sized)
    groups = [
        (min(100, s.groups - n), [pages(m, 999) for m in s.members[n : n + 100] if m >= 20])
        for n in range(0, s.groups, 100)
    ]
    sized = parted and chain >= SIZED_MIN_PAGES
    return 1 + 1 + read_calls(users, groups, count_after=int(parted), sized=sized)


def entra_members_side(s: Shape) -> bool:
    """Whether the connector at its defaults (``memberships = "auto"``) reads this tenant from
    the members' side: its users are partitioned (and the shape says who has how many groups).

    Then users twice (``$expand=memberOf``, then managers) in partitions at 100 a page, groups
    with ``$expand=memberOf`` at 100 a page, each object whose expansion holds 20 listed apart
    (``sources/entra/members_side.py``)."""
    chain = pages(s.users, 100)
    known = s.user_groups is not None and s.group_parents is not None
    return bool(s.user_parts) and chain >= ENTRA_PARTITION_MIN_PAGES and known


def fixed_window_floor(requests: int, limit: int, window_s: float) -> float:
    """Seconds ``requests`` need under ``limit`` per fixed window (a fresh window at start)."""
    return (math.ceil(requests / limit) - 1) * window_s if requests > 0 else 0.0


def token_bucket_floor(requests: int, capacity: float, window_s: float) -> float:
    """Seconds ``requests`` need from a full bucket of ``capacity`` refilled over ``window_s``."""
    return max(0.0, (requests - capacity) * window_s / capacity)


def latency_floor(requests: int, chain: int, latency_s: float, concurrency: int) -> float:
    """Round trips at ``concurrency`` in flight, never below the longest sequential ``chain``."""
    return max(chain, math.ceil(requests / max(1, concurrency))) * latency_s


def roles_for(size: Size) -> int:
    """OneLogin roles for a size: one per ten groups (at least five)."""
    return max(5, size.groups // 10)


@dataclass(frozen=True)
class Profile:
    """How to run and judge one IdP's benchmark."""

    idp: str
    latency_ms: float
    concurrency: int
    minimum: Callable[[Shape], int]
    quota_floor: Callable[[int], float]
    quota_note: str
    extra_flags: tuple[str, ...] = ()
    tail_flags: tuple[str, ...] = ()
    chain_page: int = 500
    member_page: int = 0
    """Members per page of one group's listing (0: memberships come with the users)."""
    incremental: bool = False
    api_cap: int = 32
    """Requests in flight the API floor assumes (:mod:`benchmarks.floors`; Okta by tier)."""
    okta_tier: str = ""
    """Okta's rate-limit tier for the API floor (``free``, ``enterprise``, ``workforce``)."""
    row_cost_us: float = 0.0
    """Keycloak emulator's server cost per returned row (0: none; when non-zero, both costs
    are passed as ``--row-cost-us``/``--offset-cost-us``)."""
    offset_cost_us: float = 0.0
    """Keycloak emulator's server cost per skipped row of a ``first`` offset."""
    generated: bool = True
    """The emulator's tenant comes from the shared generator (``--medium-every`` applies)."""
    quota_units: Callable[[Shape], int] | None = None
    """Calls the quota counts for the design minimum, where they differ from its requests
    (Google's batches: every page inside counts)."""
    source_settings: tuple[str, ...] = ()
    """More ``key = value`` lines for the connector's ``source`` table (a mode the benchmark
    measures that is not the connector's default)."""

    def emulator_args(self, size: Size, seed: int) -> list[str]:
        """``idpsync emulate <idp> …`` arguments for this size."""
        args = ["--port", "0", "--print-config", "--users", str(size.users)]
        args += ["--groups", str(size.groups), "--seed", str(seed)]
        args += ["--latency-ms", str(self.latency_ms)]
        if self.generated:
            args += ["--medium-every", str(size.medium_every)]
        else:
            args += ["--roles", str(roles_for(size))]
        if self.row_cost_us or self.offset_cost_us:  # the Keycloak emulator's cost model
            args += ["--row-cost-us", f"{self.row_cost_us:g}"]
            args += ["--offset-cost-us", f"{self.offset_cost_us:g}"]
        return [*args, *self.tail_flags, *self.extra_flags]

    def incremental_floor(self, requests: int, chain: int = 1) -> tuple[float, float]:
        """(quota floor, latency floor) of ``requests`` at the profile's concurrency: the floor
        of the changed pages an incremental sync reads, never below ``chain`` round trips one
        after the other (the longest the API cannot split, e.g.
        :func:`benchmarks.floors.okta_incremental_chain`)."""
        lat = latency_floor(requests, chain, self.latency_ms / 1000, self.concurrency)
        return self.quota_floor(requests), lat

    def floors(self, shape: Shape, requests: int | None = None) -> tuple[float, float]:
        """(quota floor, latency floor) in seconds for the minimum (or given) request count."""
        n = self.minimum(shape) if requests is None else requests
        units = self.quota_units(shape) if requests is None and self.quota_units else n
        chain = self.longest_chain(shape)
        rows = shape.users + shape.groups + sum(shape.members)
        server = rows * self.row_cost_us / 1e6 / self.concurrency  # Keycloak's cost model
        return self.quota_floor(units), server + latency_floor(
            n, chain, self.latency_ms / 1000, self.concurrency
        )

    def longest_chain(self, shape: Shape) -> int:
        """Pages of the longest listing that must be read one page after the other: the users,
        or the largest group's members."""
        users = pages(shape.users, self.chain_page)
        if self.idp == "entra" and shape.user_parts and users >= ENTRA_PARTITION_MIN_PAGES:
            users = 2 + max(pages(n, self.chain_page) for n in shape.user_parts)  # partitions
        elif self.idp == "onelogin":  # page 1 tells Total-Pages, the others by number at once;
            users = max(2, 1 + pages(shape.groups, 50))  # the v1 groups are a chain
        if self.idp == "entra" and entra_members_side(shape):  # token + groups at 100
            return max(users, 1 + pages(shape.groups, 100))
        if not self.member_page or not shape.members:
            return users
        if self.idp == "entra":  # the groups pages up to the one naming a group of 20 or more
            named = [
                n // 100 + 1 + pages(m, self.member_page)
                for n, m in enumerate(shape.members)
                if m >= 20
            ]
            return max(users, 1 + max(named, default=1))
        # a member listing starts after the token and the groups page that names the group
        return max(users, 2 + pages(max(shape.members), self.member_page))

    def floor(self, shape: Shape) -> float:
        """The larger of the quota floor and the latency floor, for the minimum request count."""
        return max(self.floors(shape))


PROFILES: dict[str, Profile] = {
    "google": Profile(
        "google",
        400,
        8,
        google_minimum,
        lambda n: token_bucket_floor(n, 2400, 60.0),
        "2,400 queries/min (token bucket)",
        tail_flags=("--tail-ms", "1500", "--tail-share", "0.01"),
        chain_page=500,
        member_page=200,
        incremental=True,
        quota_units=google_units,
        source_settings=('incremental = "reports"',),
    ),
    "okta": Profile(
        "okta",
        700,
        14,
        okta_minimum,
        lambda n: fixed_window_floor(n, 1000, 60.0),
        "group bucket 1,000/min (fixed windows)",
        chain_page=200,
        member_page=1000,
        incremental=True,
        api_cap=75,
        okta_tier="workforce",
        # the benchmark org has no other integration, and both floors count every bucket whole:
        # the default reserve (0.2) leaves a fifth of the groups/{id} bucket idle
        source_settings=("reserve = 0.0",),
    ),
    "keycloak": Profile(
        "keycloak",
        100,
        32,
        keycloak_minimum,
        lambda n: 0.0,
        "none (server-bound)",
        extra_flags=("--admin-events",),
        tail_flags=("--tail-ms", "400", "--tail-share", "0.01"),
        chain_page=KEYCLOAK_PAGE,
        member_page=KEYCLOAK_PAGE,
        incremental=True,
        row_cost_us=25.0,
        offset_cost_us=10.0,
    ),
    "onelogin": Profile(
        "onelogin",
        300,
        32,
        onelogin_minimum,
        lambda n: fixed_window_floor(n, 5000, 3600.0),
        "5,000 calls/hour (account-wide)",
        chain_page=50,
        incremental=True,
        generated=False,
        source_settings=('incremental_groups = "named"',),
    ),
    "entra": Profile(
        "entra",
        500,
        32,
        entra_minimum,
        lambda n: token_bucket_floor(2 * n, 8000, 10.0),
        "8,000 RU/10 s (≈2 RU a call)",
        tail_flags=("--tail-ms", "2500", "--tail-share", "0.01"),
        chain_page=100,
        member_page=999,
        incremental=True,
    ),
}
"""Profiles by IdP. Latencies are the [est] p50 of limits-and-scale.md §3 (OneLogin: our [est])."""
