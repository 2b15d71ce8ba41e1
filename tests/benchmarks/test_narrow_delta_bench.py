from __future__ import annotations

import pytest
from benchmarks.engine import snapshot

from benchmarks import narrow_delta as bench
from idpsync.model import MemberKind
from idpsync.sources.base import DeltaResult


def same(delta: DeltaResult) -> DeltaResult:
    delta.users.sort(key=lambda u: u.source_id)
    delta.removed_users.sort()
    return delta


def test_before_and_after_build_the_same_delta(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CHANGED", "EDGES", "EVENTS"):
        monkeypatch.setattr(bench, name, [])
    snap = snapshot(600, 30, 0, 3)
    snap.memberships = [e for e in snap.memberships if e.member_kind is MemberKind.USER]
    bench.take_change(snap)
    assert bench.EVENTS and bench.CHANGED
    okta = same(bench.okta_before(snap))
    assert okta == same(bench.okta_after(snap)) and okta.added and okta.removed
    onelogin = same(bench.onelogin_before(snap))
    assert onelogin == same(bench.onelogin_after(snap)) and onelogin.removed


def test_every_build_is_measured(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("CHANGED", "EDGES", "EVENTS"):
        monkeypatch.setattr(bench, name, [])
    bench.main(["--users", "300", "--groups", "20"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("staged 300 users")
    assert [line[:17].strip() for line in lines[1:]] == list(bench.WAYS)
