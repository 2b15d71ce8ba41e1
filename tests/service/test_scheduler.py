"""Scheduling: cron slots, run locks and slot claims across instances (real PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from idpsync.config import ConnectorSettings
from idpsync.service import slots
from idpsync.service.alerts import Alerter
from idpsync.service.executor import Executor
from idpsync.service.locks import ConnectorLocks
from idpsync.service.metrics import Metrics
from idpsync.service.scheduler import Scheduler, due_slot, next_slot, overdue_limit
from idpsync.store import Store
from idpsync.store import schema as t
from idpsync.store.store import now
from tests.service.support import loaded_config

T0 = datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)


def _settings(schedule: dict[str, object]) -> ConnectorSettings:
    return ConnectorSettings.model_validate(
        {"source": {"type": "file", "path": "x.json"}, "schedule": schedule}
    )


def test_due_and_next_slots() -> None:
    hourly = _settings({"full": "0 * * * *"})
    assert due_slot(hourly, T0) == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert next_slot(hourly, T0) == datetime(2026, 3, 1, 13, 0, tzinfo=UTC)
    assert due_slot(hourly, T0.replace(minute=0, second=0)) == T0.replace(minute=0, second=0)
    assert overdue_limit(hourly, T0) == 7200
    late = _settings({"full": "0 0 * * *", "misfire_grace": 60})
    assert due_slot(late, T0) is None  # midnight's slot is 12 hours old
    assert due_slot(_settings({}), T0) is None
    seconds = _settings({"full": "* * * * * */10"})
    assert due_slot(seconds, T0) == T0


def test_bad_cron_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="not a valid cron expression"):
        _settings({"full": "every hour"})


def _executor(tmp_path: Path, url: str) -> Executor:
    store = Store.open(url)
    loaded = loaded_config(tmp_path, url, schedule='full = "*/5 * * * *"')
    return Executor(
        loaded,
        store,
        ConnectorLocks(store.engine),
        Metrics(),
        Alerter(loaded.settings.service.alerts),
    )


@pytest.fixture
def pair(tmp_path: Path, store: Store):  # type: ignore[no-untyped-def]
    url = store.engine.url.render_as_string(hide_password=False)
    a, b = _executor(tmp_path, url), _executor(tmp_path, url)
    b.owner = "other-host:4242"
    yield a, b
    a.store.close()
    b.store.close()


def _clock() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


async def test_two_instances_run_a_slot_once(pair) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    sa_, sb = Scheduler(a, _clock), Scheduler(b, _clock)
    started = sa_.tick() + sb.tick()
    assert len(started) == 2  # both instances try the same slot
    await asyncio.gather(*sa_._tasks, *sb._tasks)
    runs = a.store.runs()
    assert len(runs) == 1 and runs[0]["status"] == "succeeded"
    (row,) = slots.recent(a.store)
    assert row["run_id"] == runs[0]["id"] and row["finished_at"] is not None
    # A later tick of either instance does not run the slot again.
    sa_.tick(), sb.tick()
    await asyncio.gather(*sa_._tasks, *sb._tasks)
    assert len(a.store.runs()) == 1


async def test_slot_of_a_dead_instance_is_taken_over(pair) -> None:  # type: ignore[no-untyped-def]
    a, _b = pair
    slot = slots.Slot("hr", "full", datetime.now(UTC).replace(microsecond=0))
    with a.store.transaction() as conn:
        conn.execute(
            t.schedule_slots.insert().values(
                connector="hr", kind="full", slot_at=slot.at, claimed_by="gone:1", claimed_at=now()
            )
        )
        conn.execute(
            t.runs.insert().values(
                connector="hr",
                mode="full",
                dry_run=False,
                status="running",
                started_at=now(),
                summary={},
                stats={},
                host="gone",
                pid=1,
            )
        )
    result = await a.run("hr", slot=slot)
    assert result is not None and result.status == "succeeded"
    (row,) = slots.recent(a.store)
    assert row["claimed_by"] == a.owner and row["run_id"] == result.run_id
    statuses = sorted(r["status"] for r in a.store.runs())
    assert statuses == ["interrupted", "succeeded"]  # the dead holder's run, on another host


async def test_finished_run_of_a_dead_holder_is_not_repeated(pair) -> None:  # type: ignore[no-untyped-def]
    a, _b = pair
    at = datetime.now(UTC).replace(microsecond=0)
    slot = slots.Slot("hr", "full", at)
    with a.store.transaction() as conn:
        conn.execute(
            t.schedule_slots.insert().values(
                connector="hr",
                kind="full",
                slot_at=at,
                claimed_by="gone:77",
                claimed_at=at - timedelta(seconds=5),
            )
        )
        conn.execute(
            t.runs.insert().values(
                connector="hr",
                mode="full",
                dry_run=False,
                status="succeeded",
                started_at=at,
                finished_at=at,
                summary={},
                stats={},
                host="gone",
                pid=77,
            )
        )
    assert await a.run("hr", slot=slot) is None
    (row,) = slots.recent(a.store)
    assert row["status"] == "succeeded" and row["finished_at"] is not None
    with a.store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.runs)).scalar() == 1


async def test_a_held_lock_keeps_other_runs_out(pair) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    with b.locks.hold("hr") as taken:
        assert taken
        if a.store.dialect == "postgresql":  # another instance (connection) is refused
            assert await a.run("hr") is None
            assert a.state("hr").skipped == "locked"
    result = await a.run("hr")
    assert result is not None and result.status == "succeeded"


async def test_a_connector_handed_over_is_not_scheduled(pair) -> None:  # type: ignore[no-untyped-def]
    from idpsync.app.migrate_moves import MIGRATION

    a, _ = pair
    scheduler = Scheduler(a, _clock)
    assert "hr" in scheduler.connectors
    with a.store.transaction() as conn:
        a.store.ensure_connector(conn, "hr", "file")
        a.store.set_connector_state(conn, "hr", {MIGRATION: {"to": "entra", "run": 7}})
    assert scheduler.tick() == [] and "hr" not in scheduler.connectors
    assert a.store.runs() == []  # no refused run, no alert, every five minutes
