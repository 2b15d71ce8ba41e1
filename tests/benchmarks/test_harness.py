"""The benchmark harness's pure parts: request minimums, floors, the table and the page."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from benchmarks.profiles import (
    PROFILES,
    SIZES,
    Shape,
    Size,
    entra_minimum,
    fixed_window_floor,
    google_minimum,
    keycloak_minimum,
    latency_floor,
    okta_minimum,
    onelogin_minimum,
    pages,
    token_bucket_floor,
)

from benchmarks import process, report


def test_pages_counts_an_empty_listing_as_one_page() -> None:
    assert [pages(0, 200), pages(1, 200), pages(200, 200), pages(201, 200)] == [1, 1, 1, 2]


def test_minimums_follow_the_connector_formulas() -> None:
    shape = Shape(users=1001, groups=201, members=[0, 200, 201, 1000, 1001], roles=51)
    # member pages 1, 1, 2, 5, 6 in rolling batches: one call a page of the longest chain
    assert google_minimum(shape) == 1 + 3 + 2 + 6
    assert okta_minimum(shape) == 6 + 1 + 1 + (1 + 1 + 1 + 1 + 2)
    assert keycloak_minimum(shape) == 1 + 1 + 1 + 0 + 5 + 1  # + events/config
    assert onelogin_minimum(shape) == 2 + 5 + 2 + 21
    # managers are expanded on the user listing (pages of 100); the token, then the delta
    # links and one count in one batch call; one users chain (11 pages are under the partition
    # threshold); every listing in rounds of $batch, 20 to a call: round 1 the users and the
    # groups (3 pages of 100 expanded), round 2 also the four groups of 20 or more members
    # (named by groups page 1) and two delta partitions' links, round 3 the two groups of
    # 1,000 or more, two more links, round 4 the last link, round 5 the check; all beside the
    # users' pages: one call a round to their 11th
    assert entra_minimum(shape) == 1 + 1 + 11
    parted = Shape(users=2500, groups=10, members=[5] * 10, user_parts=[1000, 1000, 500])
    # round 1: 44 partitions + the groups page = 45 items, 3 calls; rounds 2-5 the three
    # partitions of several pages (with the one link, then the check), 6-10 the two of 10
    # pages: one call each; round 11 the count after the partitions
    assert entra_minimum(parted) == 1 + 1 + 3 + 9 + 1


def test_reference_tenant_member_calls_are_about_one_per_group() -> None:
    shape = Shape(users=100_000, groups=5_000, members=[200] * 5_000)
    # limits-and-scale §4 counts ≈5,225 calls; batched, the members take 5 calls of 1,000
    assert google_minimum(shape) == 1 + 200 + 25 + 5
    # the quota still counts every page: the design floor's quota part is that of 5,226 calls
    google = PROFILES["google"]
    assert google.floors(shape)[0] == pytest.approx(token_bucket_floor(5_226, 2400, 60.0))


def test_quota_floors() -> None:
    assert fixed_window_floor(0, 1000, 60) == 0
    assert fixed_window_floor(1000, 1000, 60) == 0
    assert fixed_window_floor(1001, 1000, 60) == 60
    assert fixed_window_floor(7000, 5000, 3600) == 3600
    assert token_bucket_floor(2400, 2400, 60) == 0
    assert token_bucket_floor(5225, 2400, 60) == pytest.approx(70.625)


def test_latency_floor_never_below_the_sequential_chain() -> None:
    assert latency_floor(100, 10, 0.5, 4) == pytest.approx(12.5)
    assert latency_floor(100, 60, 0.5, 4) == pytest.approx(30.0)


def test_latency_floor_counts_the_largest_groups_member_chain() -> None:
    google = PROFILES["google"]  # 500 users a page, 200 members a page, 400 ms
    # a member chain starts after the token and the groups page
    assert google.longest_chain(Shape(users=1000, groups=1, members=[100])) == 3
    assert google.longest_chain(Shape(users=1000, groups=2, members=[100_000, 5])) == 502
    # users only: page 1, then every other page by number at once
    assert PROFILES["onelogin"].longest_chain(Shape(1000, 1, [100_000])) == 2
    assert PROFILES["onelogin"].longest_chain(Shape(100_000, 5000, [1])) == 101  # v1 groups
    # Entra: a member chain starts after the groups page (100 a page) that names the group
    entra = PROFILES["entra"]
    assert entra.longest_chain(Shape(100, 300, [5] * 250 + [5000] + [5] * 49)) == 1 + 3 + 6
    assert entra.longest_chain(Shape(100, 300, [5000] + [5] * 299)) == 1 + 1 + 6


def test_profile_floor_is_the_larger_of_quota_and_latency() -> None:
    okta = PROFILES["okta"]
    shape = Shape(users=400, groups=2, members=[10, 10])
    quota, lat = okta.floors(shape)
    assert quota == 0 and okta.floor(shape) == lat > 0
    assert okta.floors(shape, requests=1500)[0] == 60


def test_emulator_args_carry_size_seed_and_latency() -> None:
    args = PROFILES["google"].emulator_args(Size(10, 2, 3), 5)
    assert args[:3] == ["--port", "0", "--print-config"]
    assert args[3:5] == ["--users", "10"] and "--latency-ms" in args and "--tail-ms" in args
    assert args[args.index("--medium-every") + 1] == "3"
    onelogin = PROFILES["onelogin"].emulator_args(Size(10, 50, 3), 5)
    assert "--medium-every" not in onelogin and onelogin[onelogin.index("--roles") + 1] == "5"


def test_sizes_give_about_ten_memberships_per_user() -> None:
    from idpsync.emulators.generate import TenantSpec, generate_tenant

    s = SIZES["S"]
    spec = TenantSpec(users=s.users, groups=s.groups, seed=7, medium_every=s.medium_every)
    truth = generate_tenant(spec).ground_truth()
    edges = sum(1 for _, member in truth.memberships if member in truth.users)
    assert 0.8 * 10 * s.users <= edges <= 1.2 * 10 * s.users
    assert (SIZES["L"].users, SIZES["L"].groups) == (100_000, 5_000)


def test_incremental_floor_is_the_changed_requests_at_quota_and_concurrency() -> None:
    okta = PROFILES["okta"]  # 700 ms, 1,000 a minute in fixed windows
    assert okta.incremental_floor(1) == pytest.approx((0.0, 0.7))
    assert okta.incremental_floor(okta.concurrency * 3) == pytest.approx((0.0, 2.1))
    assert okta.incremental_floor(5219)[0] == 300.0  # a delta touching most groups is quota-bound


def row(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "idp": "okta", "store": "sqlite", "kind": "full", "users": 10, "memberships": 5,
        "status": "succeeded", "wall_s": 30.0, "requests_stats": 12, "requests_log": 12,
        "minimum": 10, "throttled_log": 0, "floor_s": 20.0, "quota_floor_s": 0.0,
        "latency_floor_s": 20.0, "rss_mib": 100.0, "store_s": 1.5, "load": 0.5,
    }  # fmt: skip
    return {**base, **over}


def test_table_has_one_line_per_row_and_derived_ratios() -> None:
    table = report.render_table([row(), row(kind="second", requests_log=None, floor_s=2.5)])
    lines = table.splitlines()
    assert len(lines) == 4
    # a row without API-floor fields (older results) shows dashes in those columns
    assert (
        "| 30.0 | 12 / 12 | – | 10 | – | 1.20 | 0 | – | 20.0 (0.0 / 20.0) | – | 1.50 | – |"
        in (lines[2])
    )
    assert "| 12 / – | – | 10 | – | 1.20 |" in lines[3] and "| – | 27.5 | 100.0 |" in lines[3]


def test_ratio_without_a_denominator_is_a_dash() -> None:
    assert (
        report.ratio(3, 0) == "–" and report.ratio(None, 2) == "–" and report.ratio(3, 2) == "1.50"
    )


MACHINE = {"nproc": 2, "memory_gib": 4.0, "cpu": "X", "python": "3.11", "load": [3, 2, 1]}


def test_page_keeps_its_intro_and_flags_a_loaded_machine(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks"
    out.mkdir()
    result = {
        "size": "S",
        "idps": {"okta": {"date": "d", "command": "c", "machine": MACHINE}},
        "rows": [row(load=3.5)],
    }
    (out / "results-S.json").write_text(json.dumps(result), encoding="utf-8")
    page = tmp_path / "benchmarks.md"
    page.write_text("# Benchmarks\n\nHand-written intro.\n", encoding="utf-8")
    report.write_docs(out, page)
    report.write_docs(out, page)  # regenerating replaces the generated part only
    text = page.read_text(encoding="utf-8")
    assert text.count("Hand-written intro.") == 1 and text.count("## Size S") == 1
    assert "shared and loaded" in text and "2 CPUs (X)" in text
    assert (out / "wall-vs-size.png").stat().st_size > 0


def test_merge_replaces_one_idps_rows_and_keeps_the_others() -> None:
    first = report.merge(None, "S", "okta", [row(date="d1")], None, "run okta")
    both = report.merge(first, "S", "google", [row(idp="google", date="d2")], None, "run google")
    assert [r["idp"] for r in both["rows"]] == ["okta", "google"]
    base = [{"kind": "naive", "wall_s": 100.0, "idp": "okta"}]
    again = report.merge(both, "S", "okta", [row(wall_s=5.0, date="d3")], base, "okta again")
    assert [(r["idp"], r["wall_s"]) for r in again["rows"]] == [("okta", 5.0), ("google", 30.0)]
    assert again["idps"]["okta"]["command"] == "okta again"
    assert again["idps"]["google"]["command"] == "run google"
    assert again["baselines"] == [{**base[0], "idpsync_wall_s": 5.0}]  # its own run's sync
    kept = report.merge(again, "S", "okta", [row(date="d4")], None, "no baseline")
    assert kept["baselines"] == again["baselines"]  # an old baseline stays until re-measured


def test_merge_reads_a_file_from_before_per_idp_merging() -> None:
    old = {"size": "S", "date": "d", "command": "c", "machine": MACHINE, "rows": [row()]}
    merged = report.merge(old, "S", "google", [row(idp="google", date="e")], None, "g")
    assert merged["idps"]["okta"] == {"date": "d", "command": "c", "machine": MACHINE}
    assert len(merged["rows"]) == 2


def test_plot_points_take_full_sqlite_runs_sorted_by_size() -> None:
    rows = [row(users=100, wall_s=9.0), row(users=10), row(store="postgresql"), row(kind="x")]
    assert report.plot_points([{"rows": rows}]) == {"okta": [(10, 30.0), (100, 9.0)]}


def test_printed_block_parsing() -> None:
    assert process.connector_name("[connectors.okta-emulated.source]\ntype = 'okta'") == (
        "okta-emulated"
    )
    with pytest.raises(ValueError, match="no \\[connectors"):
        process.connector_name("nothing")
    m = process.EXPORT.match("export IDPSYNC_OKTA_TOKEN='abc'")
    assert m is not None and m.groups() == ("IDPSYNC_OKTA_TOKEN", "abc")


def test_written_config_has_store_block_and_concurrency(tmp_path: Path) -> None:
    block = '[connectors.k.source]\ntype = "keycloak"'
    path = process.write_config(tmp_path, "sqlite:///x.db", block, 8)
    text = path.read_text(encoding="utf-8")
    assert text.startswith('[store]\nurl = "sqlite:///x.db"')
    assert "[connectors.k.source.http]\nconcurrency = 8" in text
    more = process.write_config(tmp_path, "sqlite:///x.db", block, 8, ['mode = "fast"'])
    loaded = tomllib.loads(more.read_text(encoding="utf-8"))
    assert loaded["connectors"]["k"]["source"]["mode"] == "fast"
    assert loaded["connectors"]["k"]["source"]["type"] == "keycloak"
    with pytest.raises(ValueError, match="no"):
        process.write_config(tmp_path, "sqlite:///x.db", "[connectors.k]\n", 8, ["a = 1"])


def test_an_extrapolated_baseline_of_the_old_harness_is_not_published() -> None:
    old = {"idp": "okta", "date": "d", "users": 2000, "estimated_wall_s": 1010.0}
    result = {"size": "S", "idps": {}, "rows": [row()], "baselines": [old]}
    assert "Baselines" not in report.section(result)
    new = {"idp": "okta", "kind": "naive", "design": "d", "wall_s": 300.2, "users": 2000,
           "groups": 1, "memberships": 3, "verdict": "stopped…", "stopped": True}  # fmt: skip
    assert report.merge_baselines([old], "okta", [new]) == [new]
    text = report.baseline_section([old, new], [row(wall_s=10.1)])
    assert "1010" not in text and "| > 300.2 |" in text and "| > 29.7× |" in text
