from __future__ import annotations

import asyncio
from collections.abc import Iterable

import pytest
from benchmarks.engine import Generated, change, changed, main, snapshot
from benchmarks.rss import MIB, RssSampler

from benchmarks import engine
from idpsync.app import incremental
from idpsync.emulators.generate import TenantSpec
from idpsync.model import MemberKind, Membership


def test_snapshot_keeps_only_user_and_group_edges_and_changed_keeps_the_count() -> None:
    snap = snapshot(300, 20, 0)
    users = {u.source_id for u in snap.users}
    groups = {g.source_id for g in snap.groups}
    assert len(snap.users) == 300 and len(snap.groups) == 20
    assert all(e.member_id in users | groups and e.group_id in groups for e in snap.memberships)
    other = changed(snap, 0.1, 1)
    assert len(other.memberships) == len(snap.memberships)
    assert len(set(other.memberships) - set(snap.memberships)) == len(snap.memberships) // 10
    renamed = [a for a, b in zip(snap.users, other.users, strict=True) if a != b]
    assert len(renamed) == 30


def test_change_works_in_place_and_the_sampler_keeps_a_peak_per_phase() -> None:
    snap = snapshot(300, 20, 0)
    before = list(snap.memberships)
    with RssSampler() as rss:
        rss.enter("small")
        change(snap, 0.1, 1)
        rss.enter("large")
        held = b"x" * (64 * MIB)  # written, so resident
    edges = snap.memberships  # the snapshot's own, changed (no second snapshot made)
    assert len(edges) == len(before)
    assert len(set(edges) - set(before)) == len(before) // 10
    assert list(rss.peaks) == ["start", "small", "large"]
    assert rss.peaks["large"] - rss.peaks["small"] >= 60 * MIB
    assert len(held) == 64 * MIB


def test_change_returns_the_change_as_a_complete_delta() -> None:
    snap = snapshot(300, 20, 0)
    before = set(snap.memberships)
    delta = change(snap, 0.1, 1)
    after = set(snap.memberships)
    assert delta.complete and len(delta.users) == 30
    assert set(delta.removed) == before - after
    assert set(delta.added) == after - before
    assert {u.source_id for u in delta.users} <= {u.source_id for u in snap.users}


def test_delta_mode_reads_a_delta_and_plans_incrementally(
    capsys: pytest.CaptureFixture[str],
) -> None:
    main(["--users", "200", "--groups", "10", "--delta"])
    out = capsys.readouterr().out
    initial, changed_run = (line for line in out.splitlines() if "planned" in line)
    assert "read full" in initial and "planned full" in initial
    assert "read delta" in changed_run and "planned incremental (" in changed_run
    for phase in ("stage", "plan", "apply", "CPU"):
        assert phase in out


def test_full_plan_mode_plans_the_delta_whole(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(incremental, "ENABLED", True)  # restored after
    main(["--users", "200", "--groups", "10", "--delta", "--full-plan"])
    out = capsys.readouterr().out
    assert "read delta" in out and "planned full (incremental planning is turned off)" in out


def test_stream_mode_streams_the_full_reads_and_plans_the_same(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from idpsync.app import runner
    from idpsync.store.stream import EdgeStream

    counts: list[int] = []

    class Counted(EdgeStream):
        def close(self) -> None:
            counts.append(self.count)
            super().close()

    monkeypatch.setattr(runner, "EdgeStream", Counted)
    main(["--users", "200", "--groups", "10", "--stream"])
    streamed = capsys.readouterr().out
    assert len(counts) == 2 and all(counts)  # both full reads wrote their edges to the stream
    main(["--users", "200", "--groups", "10"])
    in_memory = capsys.readouterr().out
    assert len(counts) == 2  # no --stream: none

    def changes(out: str) -> list[str]:
        return [
            line.split("CPU")[1].split(",")[1] for line in out.splitlines() if "changes" in line
        ]

    assert changes(streamed) == changes(in_memory)


def test_generated_source_hands_over_the_same_tenant_as_the_prebuilt_snapshot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``--generate``: the same users, groups and edges as :func:`snapshot`, the edges handed
    over group by group and none held in the snapshot the read returns."""
    spec = TenantSpec(users=300, groups=30, seed=3, medium_every=8)
    built = snapshot(300, 30, 3, 8)
    handed: list[list[Membership]] = []

    class Sink:
        def edges(self, batch: Iterable[Membership]) -> None:
            handed.append(list(batch))

    monkeypatch.setattr(engine, "PIECE", 50)
    source = Generated(spec)
    read = asyncio.run(source.snapshot_to(Sink()))
    assert read.users == built.users and read.groups == built.groups
    assert len(read.memberships) == 0
    edges = [e for piece in handed for e in piece]
    assert sorted(edges) == sorted(built.memberships) and source.edges == len(edges)
    assert max(len(piece) for piece in handed) <= 50 < len(edges)
    assert any(e.member_kind is MemberKind.GROUP for e in edges)  # the nesting too


def test_generated_mode_syncs_as_the_prebuilt_one(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--users", "200", "--groups", "20", "--generate", "--delta"])
    generated = capsys.readouterr().out
    main(["--users", "200", "--groups", "20", "--stream", "--delta"])
    prebuilt = capsys.readouterr().out
    assert "generated" in generated and "read full" in generated and "read delta" in generated

    def changes(out: str) -> list[str]:
        return [
            line.split("CPU")[1].split(",")[1] for line in out.splitlines() if "changes" in line
        ]

    assert changes(generated) == changes(prebuilt) and len(changes(generated)) == 2


@pytest.mark.parametrize("kind", engine.PRESETS)
def test_preset_mode_maps_through_that_presets_templates(kind: str) -> None:
    from idpsync.sources.registry import preset

    mapping = engine.bench_settings(kind).policy.mapping
    assert {name: getattr(mapping, name) for name in preset(kind)} == dict(preset(kind))


def test_preset_mode_runs(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--users", "200", "--groups", "10", "--preset", "entra"])
    out = capsys.readouterr().out
    assert "preset entra" in out and out.count("planned full") == 1
