"""Once staged, a run lets its read's edges go (the plan reads them from the store).

The same runs with the edges held to the end (``release_edges`` turned off) change the
directory alike: releasing them changes nothing but the memory the run holds.
"""

from __future__ import annotations

from typing import Any

import pytest

from idpsync.app import releasing, runner
from idpsync.app.runner import RunResult, run_sync
from idpsync.config import ConnectorSettings
from idpsync.model import MemberKind, Membership, Snapshot, SourceGroup, SourceUser
from idpsync.sources.base import Progress, Source, no_progress
from idpsync.store import Store
from idpsync.store.stage import DeltaSnapshot

SETTINGS = ConnectorSettings.model_validate(
    {
        "source": {"type": "file", "path": "x.json"},
        "policy": {"required_groups": ["g-staff"], "transitive": True},
    }
)


class Held(Source):
    """A source whose snapshot the test keeps, to look at it after the run."""

    type = "file"

    def __init__(self, snap: Snapshot) -> None:
        super().__init__()
        self.snap = snap

    async def snapshot(self, progress: Progress = no_progress) -> Snapshot:
        self.saved_state = {"read": "full"}
        return self.snap


def tenant(name: str, step: int) -> Snapshot:
    """20 users; Eng nested in Staff; the second step moves two users and drops one edge.

    Logins and group names hold the connector's name (no collision between the two).
    """
    users = [SourceUser(f"u-{i}", f"{name}user{i}") for i in range(20)]
    groups = [SourceGroup(f"g-{g}", f"{name}-{g}") for g in ("staff", "eng", "ops")]
    edges = [
        Membership("g-staff", "g-eng", MemberKind.GROUP),
        Membership("g-staff", "u-0"),
        Membership("g-eng", "u-1"),
        Membership("g-eng", "u-2"),
        Membership("g-ops", "u-3"),
        Membership("g-ops", "u-4"),
        *(Membership("g-staff", f"u-{i}") for i in range(6, 20)),
    ]
    if step:
        edges.remove(Membership("g-eng", "u-2"))
        edges += [Membership("g-eng", "u-3"), Membership("g-ops", "u-5")]
    return Snapshot(users, groups, edges)


async def sync(store: Store, name: str, step: int) -> tuple[RunResult, Held]:
    source = Held(tenant(name, step))
    result = await run_sync(store, name, SETTINGS, source)
    assert result.status == "succeeded", result.message
    return result, source


def directory(store: Store, name: str) -> tuple[Any, ...]:
    with store.read() as conn:
        state = store.load_directory(conn, name)
    users = sorted(
        (u.source_id, u.login.removeprefix(name), u.active) for u in state.users.values()
    )
    return users, sorted(state.groups), sorted(state.memberships)


async def test_the_read_s_edges_are_let_go_and_the_result_is_the_same(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    released = [await sync(store, "a", step) for step in (0, 1)]
    with monkeypatch.context() as patched:
        patched.setattr(runner, "release_edges", lambda snap: None)
        held = [await sync(store, "b", step) for step in (0, 1)]
    for (result_a, source_a), (result_b, source_b) in zip(released, held, strict=True):
        assert len(source_a.snap.memberships) == 0 and len(source_b.snap.memberships) > 0
        assert result_a.summary() == result_b.summary()
        assert result_a.stats["planned"] == result_b.stats["planned"]
    assert directory(store, "a") == directory(store, "b")
    users, _, edges = directory(store, "a")
    assert [u[0] for u in users] == sorted(f"u-{i}" for i in (*range(4), *range(6, 20)))
    assert [u[0] for u in users if not u[2]] == ["u-2"]  # out of Eng, so out of scope
    assert Membership("g-eng", "u-3") in edges and Membership("g-ops", "u-5") not in edges
    assert released[1][0].stats["planned"].startswith("incremental")


async def test_the_read_s_users_are_let_go_once_planned_and_the_result_is_the_same(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    released = [await sync(store, "a", step) for step in (0, 1)]
    with monkeypatch.context() as patched:
        patched.setattr(runner, "release_users", lambda snap, photos: None)
        held = [await sync(store, "b", step) for step in (0, 1)]
    for (result_a, source_a), (result_b, source_b) in zip(released, held, strict=True):
        assert source_a.snap.users == [] and len(source_b.snap.users) == 20
        assert result_a.summary() == result_b.summary()
        assert result_a.stats["source_users"] == result_b.stats["source_users"] == 20
        assert result_a.stats["planned"] == result_b.stats["planned"]
    assert directory(store, "a") == directory(store, "b")
    assert [u[0] for u in directory(store, "a")[0] if not u[2]] == ["u-2"]


def test_users_are_kept_for_the_photo_round_and_edges_of_a_complete_delta() -> None:
    snap = Snapshot([SourceUser("u-1", "ada")], [], [Membership("g", "u-1")])
    releasing.release_users(snap, photos=True)
    assert [u.source_id for u in snap.users] == ["u-1"]
    releasing.release_users(snap, photos=False)
    assert snap.users == []
    delta = DeltaSnapshot([], [], [Membership("g", "u-1")])
    releasing.release_edges(delta)
    assert list(delta.memberships) == [Membership("g", "u-1")]
