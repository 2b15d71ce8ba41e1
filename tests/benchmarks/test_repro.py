"""Reproducibility of benchmark results: median and range, load, pinning, provenance, targets."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from benchmarks import report, repro, targets

ROOT = Path(__file__).resolve().parents[2]


def test_median_and_range_skip_missing_values() -> None:
    assert repro.median_range([3.0, 1.0, 2.0]) == (2.0, [1.0, 3.0])
    assert repro.median_range([4, None, 2]) == (3.0, [2.0, 4.0])
    assert repro.median_range([None]) == (None, [])


def full(**over: Any) -> dict[str, Any]:
    base = {"idp": "okta", "store": "sqlite", "kind": "full", "wall_s": 10.0,
            "requests_log": 100, "rss_mib": 50.0, "load": 0.5, "other_busy": 0.0,
            "loaded": False, "throttled_log": 0}  # fmt: skip
    return {**base, **over}


def test_aggregate_keeps_medians_ranges_and_flags_a_loaded_run() -> None:
    runs = [
        [full(wall_s=12.0), full(kind="after", wall_s=3.0)],
        [full(wall_s=10.0, loaded=True, other_busy=0.4, load=2.5), full(kind="after")],
        [full(wall_s=11.0, throttled_log=2), full(kind="after", wall_s=5.0)],
    ]
    first, after = repro.aggregate(runs)
    assert first["wall_s"] == 11.0 and first["wall_s_range"] == [10.0, 12.0]
    assert first["wall_s_runs"] == [12.0, 10.0, 11.0] and first["runs"] == 3
    assert first["requests_log"] == 100 and isinstance(first["requests_log"], int)
    assert first["loaded"] and first["other_busy"] == 0.4 and first["load"] == 2.5
    assert first["throttled_log"] == 2  # the worst run's 429s, not the median
    assert after["wall_s"] == 5.0 and not after["loaded"]
    assert repro.aggregate([]) == []


def test_other_share_subtracts_our_own_cpu() -> None:
    # 1,000 jiffies passed; 600 busy, 450 of them ours
    assert repro.other_share((0, 0, 0), (600, 1000, 450)) == pytest.approx(0.15)
    assert repro.other_share((0, 0, 0), (100, 1000, 300)) == 0.0  # never negative
    assert repro.other_share((5, 5, 5), (5, 5, 5)) == 0.0


def test_load_sampler_reports_load_and_other_share() -> None:
    with repro.LoadSampler(interval_s=0.01) as sampler:
        sum(range(10_000))
    summary = sampler.summary()
    assert set(summary) == {"load", "load_mean", "other_busy", "loaded"}
    assert 0.0 <= summary["other_busy"] <= 1.0 and summary["load"] >= 0


def test_pinning_needs_two_cpus_and_taskset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(repro.shutil, "which", lambda name: "/usr/bin/taskset")
    plan = repro.pinning([0, 1, 2])
    assert plan == {"pinned": True, "emulator": [0], "sync": [1, 2]}
    assert repro.pin_prefix(plan, "sync") == ["taskset", "-c", "1,2"]
    one = repro.pinning([3])
    assert not one["pinned"] and one["why"] == "fewer than two CPUs"
    assert repro.pin_prefix(one, "emulator") == []
    monkeypatch.setattr(repro.shutil, "which", lambda name: None)
    assert repro.pinning([0, 1])["why"] == "taskset not found"


def test_provenance_records_commit_tree_versions_profile_and_seed() -> None:
    p = repro.provenance(ROOT, {"latency_ms": 500}, 7)
    assert p["seed"] == 7 and p["profile"] == {"latency_ms": 500}
    assert p["versions"]["python"] and p["versions"]["httpx"]
    assert set(repro.PACKAGES) <= set(p["versions"])
    assert p["commit"] is None or len(p["commit"]) == 12
    assert p["clean"] in (True, False, None)


def test_a_tree_is_dirty_for_code_changes_not_for_the_harness_s_own_docs(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "results-L.json").write_text("{}", encoding="utf-8")
    (tmp_path / "run.py").write_text("x = 1\n", encoding="utf-8")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "c")
    assert repro.provenance(tmp_path, {}, 7)["clean"] is True
    (tmp_path / "docs" / "results-L.json").write_text('{"rows": []}', encoding="utf-8")
    assert repro.provenance(tmp_path, {}, 7)["clean"] is True  # written by the run before
    (tmp_path / "run.py").write_text("x = 2\n", encoding="utf-8")
    assert repro.provenance(tmp_path, {}, 7)["clean"] is False


MACHINE = {"nproc": 2, "memory_gib": 4.0, "cpu": "X", "python": "3.11", "load": [1, 1, 1]}


def row(**over: Any) -> dict[str, Any]:
    base = {"idp": "entra", "store": "sqlite", "kind": "full", "mode": "full", "users": 10,
            "memberships": 5, "status": "succeeded", "wall_s": 60.0, "wall_s_range": [58.0, 70.0],
            "runs": 3, "requests_stats": 130, "requests_log": 130, "minimum": 600,
            "throttled_log": 0, "floor_s": 500.0, "quota_floor_s": 0.0, "latency_floor_s": 500.0,
            "api_minimum": 126, "api_units": 4942, "api_chain": 103, "api_quota_s": 0.0,
            "api_chain_s": 51.5, "api_cap_s": 2.0, "api_floor_s": 51.5, "api_cap": 32,
            "rss_mib": 900.0, "store_s": 50.0, "load": 1.2, "other_busy": 0.3,
            "loaded": True}  # fmt: skip
    return {**base, **over}


def test_table_gives_median_range_both_floors_and_the_load_flag() -> None:
    line = report.render_table([row()]).splitlines()[2]
    assert "| 3 | 60.0 (58.0–70.0) | 130 / 130 | 126 (4942) | 600 | 1.03 | 0.22 |" in line
    assert "| 51.5 (0.0 / 51.5 / 2.0 at 32) | 500.0 (0.0 / 500.0) | 1.17 | 0.12 |" in line
    assert line.endswith("| 1.2 / 30 % ⚠ loaded |")


def test_targets_say_met_or_missed_and_by_how_much() -> None:
    after = row(kind="incremental sync after 1 %", mode="incremental", wall_s=18.0)
    slow = row(idp="google", wall_s=260.0, api_floor_s=200.0, requests_log=9904, api_minimum=502)
    result = {
        "size": "L",
        "rows": [row(), after, slow, row(idp="google", kind="full sync after", wall_s=250.0)],
        "baselines": [
            {"idp": "entra", "kind": "group-sdk", "wall_s": 840.0, "verdict": "complete"},
            {"idp": "entra", "kind": "naive", "estimated_wall_s": 9e9},
            {"idp": "google", "name": "plain HTTP", "wall_s": 390.0},
        ],
    }
    text = targets.table(result)
    lines = {line.split(" | ")[0]: line for line in text.splitlines()}
    assert "✓ 1.17 × (60 s / 52 s)" in lines["| full sync ≤ 1.25 × API floor"]
    assert "✗ 1.30 × (260 s / 200 s), 4 % over" in lines["| full sync ≤ 1.25 × API floor"]
    assert "✗ 19.73, 1694 % over" in lines["| requests ≤ 1.1 × API minimum"]
    assert "✗ 18.0 s, 20 % over" in lines["| incremental after 1 % ≤ 15 s"]
    assert "– (no change feed used: full read, 250.0 s)" in lines["| incremental after 1 % ≤ 15 s"]
    assert "✓ 14.0 × (840 s / 60 s)" in lines["| ≥ 10 × the group-centric SDK script"]
    assert lines["| 429s = 0"].count("✓ 0") == 2
    assert "✗ 1.5 × (390 s / 260 s), 25 % short" in lines["| ≥ 2 × the plain-HTTP script"]


def test_a_capped_baseline_meets_a_speed_up_target_as_a_lower_bound_or_leaves_it_open() -> None:
    def cells(*bases: dict[str, Any]) -> list[str]:
        return targets.cells({"rows": [row()], "baselines": list(bases)}, "entra")[4:]

    capped = {"idp": "entra", "wall_s": 900.4, "stopped": True, "cap_s": 900.0}
    capped["verdict"] = "stopped at the 900 s cap after 12 of 5000 groups"
    sdk = cells({**capped, "kind": "group-sdk"}, {**capped, "kind": "plain-http", "wall_s": 61})
    assert sdk == [
        "✓ > 15.0 × (capped at > 900 s / 60 s)",
        "? > 1.0 × (capped at > 61 s / 60 s): undecided",
    ]
    failed = {"idp": "entra", "kind": "group-sdk", "wall_s": 5.0, "verdict": "failed (X)"}
    assert cells(failed)[0] == "–"


def test_old_results_without_new_fields_still_render(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks"
    out.mkdir()
    old_row = {"idp": "okta", "store": "sqlite", "kind": "full", "users": 10, "memberships": 5,
               "status": "succeeded", "wall_s": 30.0, "requests_stats": 12, "requests_log": 12,
               "minimum": 10, "throttled_log": 0, "floor_s": 20.0, "quota_floor_s": 0.0,
               "latency_floor_s": 20.0, "rss_mib": 100.0, "store_s": 1.5, "load": 0.5}  # fmt: skip
    old = {"size": "L", "idps": {"okta": {"date": "d", "command": "c", "machine": MACHINE}},
           "rows": [old_row], "baselines": []}  # fmt: skip
    new = report.merge(
        None, "S", "entra", [row(loaded=False, date="d")], None, "c",
        {"provenance": repro.provenance(ROOT, {"latency_ms": 500, "tail": []}, 7),
         "pinning": {"pinned": False, "why": "taskset not found"}, "runs": 3},
    )  # fmt: skip
    (out / "results-L.json").write_text(json.dumps(old), encoding="utf-8")
    (out / "results-S.json").write_text(json.dumps(new), encoding="utf-8")
    page = tmp_path / "benchmarks.md"
    report.write_docs(out, page)
    text = page.read_text(encoding="utf-8")
    assert "### Targets of issue #20 (size L, SQLite)" in text
    assert "| 30.0 | 12 / 12 | – | 10 |" in text  # no API floor recorded: dashes
    assert "seed 7; 3 run(s), median (range); not pinned (taskset not found)" in text
    assert "Versions: python" in text
    pinned = {**new["idps"]["entra"], "pinning": {"pinned": True, "emulator": [0], "sync": [1]}}
    assert "emulator on CPU 0, sync on CPU 1" in report.provenance_line(pinned)


def test_backfill_adds_api_floors_to_old_full_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks.profiles import Shape

    from benchmarks import run

    made: list[str] = []

    def fake_tenant(idp: str, size: object, seed: int) -> run.Tenant:
        made.append(idp)
        return run.Tenant(Shape(1000, 10, [10] * 10), lambda emu: 0)

    monkeypatch.setattr(run, "tenant_for", fake_tenant)
    old = {"size": "S", "rows": [
        {"idp": "google", "kind": "full"}, {"idp": "google", "kind": "full sync after"},
        {"idp": "okta", "kind": "full", "api_floor_s": 1.0},
    ]}  # fmt: skip
    assert run.backfill_floors(old, 7) == 1 and made == ["google"]
    google, after, okta = old["rows"]
    assert google["api_minimum"] > 0 and google["api_cap"] == 32
    assert "api_floor_s" not in after and okta["api_floor_s"] == 1.0
