"""A complete delta run plans with the staged edges where they are (issue #21).

After a complete delta is applied to the staged mirror in SQL, the runner decides in the store:
the membership diff runs in the database, so no staged edge is read into Python.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from idpsync.app import runner
from idpsync.model import Membership, SourceGroup, SourceUser
from idpsync.sources.base import DeltaResult
from idpsync.store import stage
from tests.deltas import Tenant, TenantSource, seeded_copy, settings_for, sync


def _refuse(*args: Any) -> list[Membership]:
    raise AssertionError("the staged edges were read into Python")


def test_a_complete_delta_run_leaves_the_staged_edges_in_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = {"u1": SourceUser("u1", "delta-carl"), "u2": SourceUser("u2", "delta-dora")}
    groups = {"g1": SourceGroup("g1", "Delta one"), "g2": SourceGroup("g2", "Delta two")}
    start = Tenant(users, groups, {Membership("g1", "u1"), Membership("g2", "u1")})
    after = Tenant(dict(users), dict(groups), {Membership("g1", "u1"), Membership("g1", "u2")})
    delta = DeltaResult(
        added=[Membership("g1", "u2")], removed=[Membership("g2", "u1")], state={"step": 1}
    )
    store = seeded_copy(tmp_path)
    try:
        config = settings_for({})
        assert sync(store, config, TenantSource(start), allow_deletes=True).ok
        monkeypatch.setattr(stage, "load_edges", _refuse)
        monkeypatch.setattr(runner, "load_edges", _refuse, raising=False)
        result = sync(store, config, TenantSource(after, delta, 1))
        assert result.status == "succeeded"
        assert result.stats["read"] == "delta"
        summary = result.summary()
        assert (summary["memberships_added"], summary["memberships_removed"]) == (1, 1)
    finally:
        store.close()
