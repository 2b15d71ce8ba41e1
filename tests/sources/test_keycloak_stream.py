"""Keycloak's full read streamed into the stage (:mod:`idpsync.store.stream`), end to end against
the emulator on SQLite and PostgreSQL: each group's direct members go to the stream as its
listing ends and the sub-group edges when the tree is whole, so the runs are the same as
reading in memory (statuses, plans, stage) through changes and an incomplete read that removes
nothing; failed or cancelled reads leave nothing; ``flatten_subgroups`` reads in memory."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from idpsync.app.runner import RunResult, run_sync
from idpsync.config import ConnectorSettings
from idpsync.emulators import Fault
from idpsync.emulators.keycloak import KeycloakEmulator
from idpsync.emulators.tenant import TenantGroup, TenantUser
from idpsync.sources.keycloak.reader import KeycloakSource
from idpsync.store import Store
from tests.sources.keycloak_support import no_waits, settings_for, source_over
from tests.sources.stream_support import (
    CancelsAt,
    Recorded,
    Twins,
    assert_stage_kept,
    left_behind,
    nothing_staged,
)
from tests.store.test_stage_sql import stage_of

__all__ = ["no_waits"]
MEMBERS = "*/groups/{id}/members"


@pytest.fixture
def emu() -> KeycloakEmulator:
    emu = KeycloakEmulator.generate(users=90, groups=12, seed=31)
    uid = emu.tenant.user_ids[0]
    emu.tenant.add_group(TenantGroup(id="eng", name="eng", members={uid: None}))
    emu.tenant.add_group(TenantGroup(id="eng-b", name="backend", members={uid: None}))
    emu.tenant.add_member("eng", "eng-b")
    return emu


async def _sync(
    store: Store,
    emu: KeycloakEmulator,
    transport: httpx.AsyncBaseTransport | None = None,
    **source: Any,
) -> RunResult:
    settings = ConnectorSettings(source=settings_for(emu, members_page_size=7, **source))
    src = source_over(settings.source, transport or emu.transport())  # type: ignore[arg-type]
    try:
        return await run_sync(store, "kc", settings, src, mode="full", allow_deletes=True)
    finally:
        await src.aclose()


def _steps(emu: KeycloakEmulator) -> Iterator[str]:
    """Change the realm between runs; yields what changed."""
    t = emu.tenant
    users = list(t.user_ids)
    yield "first load"
    t.add_user(TenantUser("new-user", "new.person", "New Person", "New", "Person", None))
    t.add_group(TenantGroup(id="eng-f", name="frontend", members={"new-user": None}))
    t.add_member("eng", "eng-f")
    t.add_member("eng-b", users[1])
    plain = [g for g in t.group_ids if g not in ("eng", "eng-b", "eng-f")]
    t.remove_member(plain[0], next(iter(t.groups[plain[0]].members)))
    t.delete_group(plain[1])
    yield "changes"
    t.remove_member(plain[2], next(iter(t.groups[plain[2]].members)))  # would be removed
    emu.inject(Fault("reset", f"*/groups/{plain[3]}/members", times=0))
    yield "incomplete"


async def test_a_streamed_full_sync_runs_exactly_as_one_read_in_memory(
    store: Store,
    twin: Store,
    streams: list[Recorded],
    monkeypatch: pytest.MonkeyPatch,
    emu: KeycloakEmulator,
) -> None:
    twins = Twins((store, twin), streams, monkeypatch, KeycloakSource, "kc")
    for step in _steps(emu):
        got = await twins.run(step, lambda st: _sync(st, emu))
    assert got.status == "partial" and got.summary()["memberships_removed"] == 0
    assert left_behind(streams, store.dialect) == []


async def test_flattened_sub_groups_read_in_memory(
    store: Store, streams: list[Recorded], emu: KeycloakEmulator
) -> None:
    result = await _sync(store, emu, flatten_subgroups=True)
    assert result.status == "succeeded", result.message
    assert streams == []  # no stream: the copies to the groups above need the whole read
    uid = emu.tenant.user_ids[0]
    edges = stage_of(store, "kc")["source_memberships"]
    assert ("eng", "user", uid) in edges and not any(kind == "group" for _, kind, _ in edges)


async def test_a_failed_read_writes_nothing_and_leaves_no_table(
    store: Store, streams: list[Recorded], emu: KeycloakEmulator
) -> None:
    first = await _sync(store, emu)
    assert first.status == "succeeded", first.message
    before = stage_of(store, "kc")
    emu.tenant.add_member("eng-b", emu.tenant.user_ids[2])  # would be staged
    # the 15th member listing request is refused (401: fatal), after others were streamed
    emu.inject(Fault("status", MEMBERS, nth=15, times=0, status=401))
    result = await _sync(store, emu)
    assert result.status == "failed", result.message
    assert_stage_kept(streams, store, "kc", before)


async def test_a_cancelled_read_writes_nothing_and_leaves_no_table(
    store: Store, streams: list[Recorded], emu: KeycloakEmulator
) -> None:
    with pytest.raises(asyncio.CancelledError):
        await _sync(
            store, emu, CancelsAt(emu.transport(), 8, lambda r: r.url.path.endswith("/members"))
        )
    assert streams[-1].peak > 0  # a few listings were written before
    assert nothing_staged(store, "kc")
    assert left_behind(streams, store.dialect) == []
