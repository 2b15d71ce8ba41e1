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
from benchmarks.profiles import PROFILES, Shape, Size


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
