"""A run that meets an exception ends ``failed`` with one line, never ``running``."""

from __future__ import annotations

from pathlib import Path

import pytest

from idpsync.app import run as run_module
from idpsync.app.runner import run_sync
from idpsync.app.single import run_sync_user
from idpsync.config import ConnectorSettings
from idpsync.model import Membership, Snapshot, SourceGroup, SourceUser
from idpsync.service.alerts import Alerter
from idpsync.service.executor import Executor
from idpsync.service.locks import ConnectorLocks
from idpsync.service.metrics import Metrics
from idpsync.sources.base import Progress, Source, no_progress
from idpsync.sources.file.settings import FileSourceSettings
from idpsync.store import Store
from tests.service.support import loaded_config

SETTINGS = ConnectorSettings(source=FileSourceSettings(type="file", path="x.json"))


class Crashing(Source):
    """A source with a bug: reading a record without ``id`` raises ``KeyError``."""

    type = "file"

    async def snapshot(self, progress: Progress = no_progress) -> Snapshot:
        record: dict[str, str] = {"login": "ada"}
        return Snapshot(users=[SourceUser(record["id"], record["login"])])


class Fixed(Source):
    """A source that returns a fixed snapshot."""

    type = "file"

    def __init__(self, snap: Snapshot) -> None:
        super().__init__()
        self.snap = snap

    async def snapshot(self, progress: Progress = no_progress) -> Snapshot:
        return self.snap


async def test_a_source_bug_fails_the_run_with_one_line(store: Store) -> None:
    result = await run_sync(store, "hr", SETTINGS, Crashing())
    assert result.status == "failed" and result.run_id > 0
    assert result.message == "internal error: KeyError: 'id'"
    row = store.run(result.run_id)
    assert row is not None and row["status"] == "failed"
    assert row["message"] == "internal error: KeyError: 'id'"
    assert [r["status"] for r in store.runs("hr")] == ["failed"]


async def test_an_error_while_staging_fails_the_run_and_changes_nothing(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada = SourceUser("u-1", "ada")
    good = Snapshot(users=[ada], groups=[SourceGroup("g-1", "Eng")])
    good.memberships.append(Membership("g-1", "u-1"))
    assert (await run_sync(store, "hr", SETTINGS, Fixed(good))).status == "succeeded"

    def broken(*_args: object) -> None:
        raise RuntimeError("disk on fire\nsecond line of a long story " + "x" * 500)

    monkeypatch.setattr(store, "write_stage", broken)
    renamed = Snapshot(users=[SourceUser("u-1", "ada2")])
    result = await run_sync(store, "hr", SETTINGS, Fixed(renamed))
    assert result.status == "failed"
    assert result.message == "internal error: RuntimeError: disk on fire"
    assert store.run(result.run_id)["status"] == "failed"  # type: ignore[index]
    with store.transaction() as conn:
        state = store.load_directory(conn, "hr")
    assert state.users["u-1"].login == "ada" and len(state.memberships) == 1


async def test_the_service_alert_carries_the_real_run_id(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = store.engine.url.render_as_string(hide_password=False)
    loaded = loaded_config(tmp_path, url)
    alerter = Alerter(loaded.settings.service.alerts)
    ex = Executor(loaded, store, ConnectorLocks(store.engine), Metrics(), alerter)
    monkeypatch.setattr(run_module, "build_source", lambda *_: Crashing())
    result = await ex.run("hr")
    assert result is not None and result.status == "failed" and result.run_id > 0
    assert [(a.kind, a.run_id) for a in alerter.sent] == [("failed", result.run_id)]
    assert store.run(result.run_id)["status"] == "failed"  # type: ignore[index]
    assert not ex.busy("hr")


class CrashingOne(Crashing):
    """Its single-user read has the same bug."""

    async def fetch_user(self, key: str) -> Snapshot | None:
        return await self.snapshot()


async def test_a_single_user_sync_bug_fails_the_run(store: Store) -> None:
    result = await run_sync_user(store, "hr", SETTINGS, CrashingOne(), "ada")
    assert result.status == "failed" and result.message == "internal error: KeyError: 'id'"
    assert store.run(result.run_id)["status"] == "failed"  # type: ignore[index]


async def test_a_source_that_cannot_be_built_is_a_failed_run_with_its_id(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = store.engine.url.render_as_string(hide_password=False)
    loaded = loaded_config(tmp_path, url)
    alerter = Alerter(loaded.settings.service.alerts)
    ex = Executor(loaded, store, ConnectorLocks(store.engine), Metrics(), alerter)

    def broken(*_args: object) -> Source:
        raise ValueError("bad key material")

    monkeypatch.setattr(run_module, "build_source", broken)
    result = await ex.run("hr")
    assert result is not None and result.run_id > 0
    assert result.message == "internal error: ValueError: bad key material"
    assert [a.run_id for a in alerter.sent] == [result.run_id]
