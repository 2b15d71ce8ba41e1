"""The API floor (benchmarks/floors.py): request minimums and floors from the APIs' own limits."""

from __future__ import annotations

from dataclasses import replace

import pytest
from benchmarks.floors import (
    ApiFloor,
    api_floor,
    entra,
    entra_incremental_chain,
    google,
    keycloak,
    nesting_depth,
    okta,
    okta_incremental_chain,
    onelogin,
    split_listing,
)
from benchmarks.profiles import PROFILES, SIZES, Shape, Size


def test_split_listing_reads_the_largest_partition_as_its_chain() -> None:
    assert split_listing(1000, (), 100, 43) == (10, 10)  # no partitions known: one chain
    # three known partitions plus 40 empty ones (one request each)
    assert split_listing(1000, [500, 300, 200], 100, 43) == (10, 5)
    assert split_listing(50_000, [30_000, 20_000], 100, 43) == (500, 300)
    # two proof requests (counts before and after) lengthen the partitioned chain
    assert split_listing(50_000, [30_000, 20_000], 100, 43, proof=2) == (500, 302)


def test_entra_batches_expands_small_groups_and_pages_big_ones() -> None:
    # 2,000 users in two UPN partitions, 300 groups: 299 of 5 members, one of 5,000
    shape = Shape(2000, 300, [5] * 299 + [5000], user_parts=[1200, 800])
    f = entra(shape, 0.5, 32)
    # users partitioned: 12 + 8 + 42 empty partitions + 2 counts = 64 requests, chain 12 + 2
    # counts; in one chain: 20 requests, chain 20. Groups with $expand at 100 a page = 3; only
    # the full expansion is paged: 5,000 at 999 = 6 pages. The floor's strategy is the
    # partitioned one (a shorter chain): its own units and chain, not the one chain's.
    inner = 64 + 3 + 6
    assert f.units == 2 * 64 + 3 + 2 * 6  # RU: users 2, groups 1, members 2
    # longest chain: the users partition with its counts (+ token)
    assert f.chain == 1 + max(12 + 2, 3, 1 + 6)
    # token + batches of 20, at least one a round of the chain; the one chain would need
    # 1 + 20 (its 20 pages one after the other), never 1 + 14 with the one chain's requests
    assert f.requests == 1 + max(-(-inner // 20), 14) == 15
    assert f.chain_s == pytest.approx(15 * 0.5) and f.floor_s == f.chain_s
    assert "$expand=members" in f.features


def test_entra_request_minimum_keeps_each_strategy_whole() -> None:
    # 100k users in 26 partitions (1,002 pages, 18 empty ones, 2 counts), 5,000 groups of 25
    # (each listed apart: 5,000 member pages). The one chain's 1,000 user pages cannot ride
    # beside the partitions' chain of 74: the minimum counts the partitions' 1,020 requests
    users = 72 + 38 * 24 + 18 + 18 + 2
    shape = Shape(100_000, 5000, [25] * 5000, user_parts=[7_200] + [3_800] * 24 + [1_800])
    f = entra(shape, 0.5, 32)
    assert users == 1022 and f.chain == 1 + 72 + 2
    # (every expansion would be full: groups at 999, 6 pages)
    assert f.requests == 1 + -(-(users + 6 + 5000) // 20) == 303  # (302 when mixed)


def test_entra_a_groups_chain_starts_after_the_groups_page_naming_it() -> None:
    # the 5,000-member group is the 251st listed: with $expand (100 groups a page) its members
    # start after the third groups page (chain 3 + 6), at 999 a page after the first (1 + 6)
    shape = Shape(100, 300, [5] * 250 + [5000] + [5] * 49)
    f = entra(shape, 0.5, 32)
    assert "groups at 999" in f.features and f.chain == 1 + 1 + 6
    assert f.requests == 1 + 3 + 6 and f.units == 2 * 1 + 3 + 2 * 6  # fewest: with $expand


def test_entra_prefers_plain_member_listings_when_groups_are_big() -> None:
    shape = Shape(100, 2000, [100] * 2000)  # every expansion would be full: no gain
    f = entra(shape, 0.5, 32)
    assert "groups at 999" in f.features and f.units == 2 * 1 + 3 + 2 * 2000


def test_entra_quota_floor_counts_resource_units_not_round_trips() -> None:
    shape = Shape(400_000, 1, [0], user_parts=[400_000 // 40] * 40)
    f = entra(shape, 0.5, 32)
    # partitioned: 4,000 pages, 4 empty partitions and 2 counts (the one chain is 4,000 long)
    assert f.units == 2 * 4006 + 1
    assert f.quota_s == pytest.approx((8013 - 8000) * 10 / 8000)
    assert f.requests == 1 + -(-4007 // 20) == 202


def test_entra_reads_memberships_from_the_members_side_past_a_big_group() -> None:
    # the 50,000-member group is a 51-page chain from the groups' side; from the members' side
    # it is no chain: users 12 + 8 pages (42 empty partitions) twice, the counts, 3 groups pages
    shape = Shape(
        2000,
        300,
        [50_000] + [5] * 299,
        user_parts=[1200, 800],
        user_groups=[],
        group_parents=[0] * 300,
    )
    f = entra(shape, 0.5, 32)
    assert "members' side" in f.features and "$expand=memberOf" in f.features
    assert f.chain == 1 + 12 + 2 and f.floor_s == pytest.approx(15 * 0.5)
    inner = 2 * (12 + 8 + 42) + 2 + 3
    assert f.requests == 1 + max(-(-inner // 20), 14) == 15
    assert f.units == 2 * (2 * 62 + 2) + 3  # users 2 RU a page, groups 1
    # the same shape without who has how many groups: the groups' side only
    old = entra(replace(shape, user_groups=None, group_parents=None), 0.5, 32)
    assert "members' side" not in old.features and old.chain == 1 + 1 + 51


def test_entra_pages_a_user_with_twenty_groups_apart() -> None:
    # one users page; the user with 250 groups has a full expansion: /users/{id}/memberOf at
    # 100 a page (3 pages, 1 RU each) after the users page; 19 groups fit in the expansion
    shape = Shape(100, 10, [5000] + [5] * 9, user_groups=[19, 250], group_parents=[0] * 10)
    f = entra(shape, 0.5, 32)
    assert "members' side" in f.features and "paged apart" in f.features
    assert f.chain == 1 + 1 + 3  # token, the users page naming it, its 3 memberOf pages
    assert f.units == 2 * 2 * 1 + 1 + 3 and f.requests == 1 + 4
    # a group with 20 parent groups is paged apart after the groups page that names it
    nested = replace(shape, user_groups=[], group_parents=[0] * 9 + [120])
    assert entra(nested, 0.5, 32).chain == 1 + 1 + 2


def test_entra_members_side_never_expands_memberof_and_manager_together() -> None:
    # 44 partitions of 2,000 users (20 pages each): one users pass with $expand=memberOf and
    # another with $expand=manager (one expansion a request), 880 pages each, + 2 counts + the
    # groups page; one combined pass would be 1 + ⌈885 / 20⌉ = 46 requests, not 90
    shape = Shape(88_000, 1, [88_000], user_parts=[2000] * 44, user_groups=[], group_parents=[0])
    f = entra(shape, 0.5, 32)
    assert "members' side" in f.features and f.chain == 1 + 20 + 2
    assert f.requests == 1 + -(-(2 * 880 + 2 + 1) // 20) == 90
    assert f.units == 2 * (2 * 880 + 2) + 1


def test_entra_splits_the_first_character_partitions_whose_chain_dominates() -> None:
    # "a" holds 15,000 users (150 pages): split in two characters (75 pages each); "b" (50
    # pages) stays whole, as splitting it shortens nothing and costs 44 more requests
    shape = Shape(
        20_000,
        100,
        [5] * 100,
        user_parts=[15_000, 5_000],
        user_pairs=[("aa", 7_500), ("ab", 7_500), ("ba", 5_000)],
        user_groups=[],
        group_parents=[0] * 100,
    )
    f = entra(shape, 0.5, 32)
    assert f.chain == 1 + 75 + 2  # token, count, the longest two-character partition, count
    assert "the 1 with over 5,000 users by two" in f.features


def test_entra_shape_counts_prefixes_heavy_users_and_parents_from_the_tenant() -> None:
    from benchmarks.entra_ways import entra_shape

    aliases = {"u1": "Ann.b1", "u2": "an.c2", "u3": "b", "u4": "x"}
    groups = ["g1", "g2", "g3"]
    edges = [(g, "u1") for g in groups] + [("g1", "g2"), ("g3", "g2"), ("g2", "dev1")]
    edges += [(f"h{i}", "u4") for i in range(20)]
    shape = entra_shape(Shape(4, 3), aliases, edges, groups)
    assert sorted(shape.user_parts) == [1, 1, 2]  # a, b, x
    assert list(shape.user_pairs) == [("an", 2), ("b@", 1), ("x@", 1)]  # "b@": b@domain
    assert list(shape.user_groups or ()) == [20]  # only a user with 20 or more
    assert list(shape.group_parents or ()) == [0, 2, 0]  # in listing order; devices not


def test_entra_api_floor_at_s_reads_from_the_members_side() -> None:
    from benchmarks.run import tenant_for

    shape = tenant_for("entra", SIZES["S"], 7).shape
    assert len(shape.user_groups or ()) == 24 and len(shape.user_pairs) == 35
    f = api_floor(PROFILES["entra"], shape)
    assert (f.requests, f.units, f.chain, f.floor_s) == (16, 565, 8, 4.0)
    assert "members' side" in f.features


L_PAIRS = {"al": 654, "an": 3252, "ao": 3248, "be": 3129, "bj": 3251, "ch": 3274, "ci": 3292}
L_PAIRS |= {"da": 654, "dm": 3303, "em": 3248, "fa": 3290, "ge": 3320, "ha": 3283, "iv": 3273}
L_PAIRS |= {"ju": 3222, "kw": 3071, "lu": 3206, "me": 3188, "mi": 654, "ni": 3226, "ol": 3350}
L_PAIRS |= {"pi": 3249, "qu": 3295, "ra": 3129, "se": 654, "sr": 3311, "th": 3309, "us": 1959}
L_PAIRS |= {"uw": 3140, "va": 3229, "we": 3242, "x.": 654, "xa": 3377, "yu": 3228, "zo": 3836}
"""The L tenant's (seed 7) users per two-character UPN prefix."""


def test_entra_api_floor_at_l_is_the_groups_listing_with_memberof() -> None:
    # the L tenant's numbers (seed 7): 152 users with 20-25 groups, 7 groups with 1-2 parents,
    # the 100,000-member group the 906th listed
    firsts: dict[str, int] = {}
    for pair, n in L_PAIRS.items():
        firsts[pair[0]] = firsts.get(pair[0], 0) + n
    members = [25] * 5000  # (every other group's expansion full: the groups' side costs more)
    members[905] = 100_000
    shape = Shape(
        100_000,
        5000,
        members,
        user_parts=list(firsts.values()),
        user_pairs=sorted(L_PAIRS.items()),
        user_groups=[20] * 152,
        group_parents=[1] * 7 + [0] * 4993,
    )
    f = entra(shape, 0.5, 32)
    # chain: token + 50 groups pages of 100 with $expand=memberOf (the users' longest: 43)
    assert f.chain == 51 and f.floor_s == pytest.approx(25.5)
    assert "the 4 with over 4,031 users by two" in f.features
    # fewest requests: one-character partitions, 1,031 requests a pass, twice, the 2 counts,
    # 50 groups pages and 152 users paged apart = 2,266 inner
    assert f.requests == 1 + -(-2266 // 20) == 115 and f.units == 4330


def test_google_floor_at_the_reference_tenant_is_the_everyone_groups_chain() -> None:
    shape = Shape(100_000, 5000, [100_000] + [199] * 4999)
    f = google(shape, 0.4, 32)
    assert f.units == 200 + 25 + 500 + 4999
    assert f.chain == 1 + 1 + 500  # token, the groups page, 500 member pages
    assert f.chain_s == pytest.approx(502 * 0.4)
    assert f.quota_s == pytest.approx((f.units - 2400) * 60 / 2400)
    assert f.requests == 1 + 502 - 1 and f.floor_s == pytest.approx(200.8)


def test_okta_buckets_are_separate_and_the_tier_sets_the_cap() -> None:
    shape = Shape(100_000, 5000, [200] * 5000, user_parts=[97_000, 3000])
    f = okta(shape, 0.7, "workforce")
    users = 485 + 15 + 6  # two statuses with users, six empty ones
    assert f.requests == min(users, 500) + 1 + 5000 and f.cap == 75
    assert f.quota_s == 4 * 60  # 5,000 member pages in the 1,000/min groups/{id} bucket
    assert f.chain == 485 and f.chain_s == pytest.approx(485 * 0.7)
    assert okta(shape, 0.7, "free").cap == 15 and okta(shape, 0.7, "enterprise").cap == 35
    assert okta(shape, 0.7, "free").quota_s == 49 * 60  # 5,000 at 100/min
    with pytest.raises(ValueError, match="unknown Okta tier"):
        okta(shape, 0.7, "gold")


def test_onelogin_pages_in_parallel_inside_the_hourly_budget() -> None:
    f = onelogin(Shape(100_000, 500, [], roles=50), 0.3, 32)
    assert f.requests == 1 + 2000 + 10 + 1 and f.quota_s == 0
    assert f.chain == 1 + 10  # the token, then the v1 groups chain (no page numbers)
    assert f.cap_s == pytest.approx(-(-2012 // 32) * 0.3)
    assert onelogin(Shape(100_000, 100, [], roles=50), 0.3, 32).chain == 3
    at_l = onelogin(Shape(100_000, 5000, [], roles=500), 0.3, 32)
    assert at_l.chain == 101 and at_l.floor_s == pytest.approx(101 * 0.3)
    assert onelogin(Shape(300_000, 50, [], roles=5), 0.3, 32).quota_s == 3600


def test_keycloak_floor_includes_the_server_cost_model() -> None:
    shape = Shape(10_000, 10, [1000] * 10, parents=2, depth=2)
    free = keycloak(shape, 0.1, 32)
    assert free.requests == 1 + 1 + 3 + 10 and free.quota_s == 0
    assert free.chain == 3 + 2 and free.chain_s == pytest.approx(0.1 * 5)
    big = Shape(100_000, 10, [10] * 10)
    costly = keycloak(big, 0.1, 32, row_cost_us=100, offset_cost_us=0)
    # users: 100k rows at 100 µs, cheaper split into 32 slices when offsets are free
    assert costly.chain_s == pytest.approx(0.1 + 0.1 + 3125 * 1e-4)
    deep = keycloak(big, 0.1, 32, row_cost_us=100, offset_cost_us=100)
    assert deep.chain_s > costly.chain_s  # deep offsets make slicing cost more
    assert deep.cap_s == pytest.approx((0.1 * 13 + (100_000 + 10 + 100) * 1e-4) / 32)


def test_api_floor_uses_the_profiles_latency_and_cap() -> None:
    shape = Shape(1000, 10, [10] * 10)
    for idp, profile in PROFILES.items():
        f = api_floor(profile, shape)
        assert isinstance(f, ApiFloor) and f.floor_s > 0, idp
        assert f.cap == (75 if idp == "okta" else 32)
        fields = f.fields()
        assert fields["api_floor_s"] == round(f.floor_s, 1)
        assert fields["api_minimum"] == f.requests


def test_api_floor_is_never_above_the_design_floor_at_the_same_shape() -> None:
    shape = Shape(100_000, 5000, [100_000] + [150] * 4999, user_parts=[9000] * 11 + [1000])
    for idp, profile in PROFILES.items():
        if idp == "okta":
            continue  # Okta's status partitions cannot shorten its users chain here
        assert api_floor(profile, shape).floor_s <= profile.floor(shape), idp


def test_nesting_depth_follows_the_longest_chain_and_cuts_cycles() -> None:
    edges = {("a", "b"), ("b", "c"), ("c", "d"), ("x", "y"), ("d", "a")}
    assert nesting_depth(edges) == 3
    assert nesting_depth(set()) == 0


def test_a_keycloak_cost_model_reaches_the_emulator_and_the_floors() -> None:
    costly = PROFILES["keycloak"]  # the emulator's defaults: 25 µs a row, 10 µs an offset row
    args = costly.emulator_args(Size(10, 2, 3), 7)
    assert float(args[args.index("--row-cost-us") + 1]) == 25
    assert float(args[args.index("--offset-cost-us") + 1]) == 10
    free = replace(costly, row_cost_us=0, offset_cost_us=0)
    assert "--row-cost-us" not in free.emulator_args(Size(10, 2, 3), 7)
    shape = Shape(100_000, 10, [10] * 10)
    assert api_floor(costly, shape).floor_s > api_floor(free, shape).floor_s
    # 100,110 rows at 25 µs over 32 slots: 0.078 s more in the design floor
    assert costly.floor(shape) == pytest.approx(free.floor(shape) + 100_110 * 25e-6 / 32)


def test_okta_incremental_floor_counts_the_log_chains_split_from_both_ends() -> None:
    """At L a 1 % change logs ≈10,000 adds and ≈10,000 removes: read by type from both ends,
    each filter is ⌈10,000 / 2,000⌉ = 5 round trips, like the 1,000 changed users at 200 a
    page; not the 1 round trip a floor of ⌈requests / concurrency⌉ alone would say."""
    stats = {
        "changed_users": 1000,
        "system_log_chains": {
            "first page": {"requests": [1, 0], "met": None, "events": 1000},
            "eventType eq add": {"requests": [6, 5], "met": "x", "events": 10_000},
            "eventType eq remove": {"requests": [6, 5], "met": "x", "events": 9_965},
        },
    }
    assert okta_incremental_chain(stats) == 5
    assert okta_incremental_chain({"changed_users": 5000}) == 25  # the users chain is longer
    assert okta_incremental_chain({}) == 1
    profile = PROFILES["okta"]
    quota, lat = profile.incremental_floor(26, okta_incremental_chain(stats))
    assert lat == pytest.approx(5 * profile.latency_ms / 1000) and quota == 0.0


def test_the_entra_incremental_chain_splits_the_groups_delta_by_fifty_ids() -> None:
    """At L (5,000 groups, ≈20,000 changed member links, 1,000 changed users) the groups delta
    spreads over 100 filtered rounds of 200 links (one page each): the users delta's 5 pages are
    the chain, not the single groups round's 40."""
    stats = {"changed_users": 1000, "changed_links": 20_000}
    assert entra_incremental_chain(stats, 5000) == 5
    assert entra_incremental_chain(stats, 50) == 40  # one partition: one round of 40 pages
    assert entra_incremental_chain({}, 5000) == 1
