"""The scheduler of ``idpsync serve``: cron slots, incremental intervals, delivery, overdue.

Every instance runs the same loop. For each connector with a schedule it computes the latest
due slot (the cron time at or before now, no older than ``misfire_grace``) and asks the
executor to run it; the run lock and the slot table (:mod:`idpsync.service.slots`) make sure
one instance runs it, once. Targets are delivered to continuously, one round every
``delivery_interval`` seconds (each target's own lease keeps deliveries from overlapping).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from croniter import croniter

from idpsync.config import ConnectorSettings
from idpsync.engine.outcome import GOOD
from idpsync.service import slots
from idpsync.service.book import Firing
from idpsync.service.conditions import TARGET_KINDS, target_conditions
from idpsync.service.executor import Executor
from idpsync.service.slots import Slot
from idpsync.store import schema as t
from idpsync.targets import http_client, run_delivery
from idpsync.targets.seats import held_users
from idpsync.targets.state import DOWN, TargetState, pending_count

log = logging.getLogger("idpsync.scheduler")

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current time in UTC, whole seconds."""
    return datetime.now(UTC).replace(microsecond=0)


def _cron(expr: str, base: datetime) -> croniter:
    return croniter(expr, base, second_at_beginning=False)


def due_slot(settings: ConnectorSettings, at: datetime) -> datetime | None:
    """The latest full-sync slot at or before ``at`` within the misfire grace, if any."""
    expr = settings.schedule.full
    if expr is None:
        return None
    slot = _cron(expr, at + timedelta(seconds=1)).get_prev(datetime)
    if (at - slot).total_seconds() > settings.schedule.misfire_grace:
        return None
    return slot.astimezone(UTC)


def next_slot(settings: ConnectorSettings, at: datetime) -> datetime | None:
    """The next full-sync slot after ``at``."""
    expr = settings.schedule.full
    return None if expr is None else _cron(expr, at).get_next(datetime).astimezone(UTC)


def incremental_slot(settings: ConnectorSettings, at: datetime) -> datetime | None:
    """The current incremental slot (``incremental_every`` seconds wide), if configured."""
    every = settings.schedule.incremental_every
    if every is None:
        return None
    stamp = int(at.timestamp() // every * every)
    return datetime.fromtimestamp(stamp, UTC)


def overdue_limit(settings: ConnectorSettings, at: datetime) -> float | None:
    """Seconds without a good run after which the connector is overdue."""
    if settings.schedule.overdue_after is not None:
        return settings.schedule.overdue_after
    if settings.schedule.full is None:
        return None
    it = _cron(settings.schedule.full, at)
    first = it.get_next(datetime)
    return 2 * (it.get_next(datetime) - first).total_seconds()


class Scheduler:
    """Finds due work and hands it to the executor."""

    def __init__(self, executor: Executor, clock: Clock = utcnow) -> None:
        self.executor = executor
        self.clock = clock
        self.started = clock()
        self._done: dict[tuple[str, str], datetime] = {}
        self._tasks: set[asyncio.Task[object]] = set()

    @property
    def connectors(self) -> dict[str, ConnectorSettings]:
        """The enabled connectors, except those handed over to another.

        A connector handed over (``connectors migrate``) would only have its runs refused, and
        alert, until the admin removes it from the configuration.
        """
        from idpsync.app.migrating import migration_of

        items = self.executor.loaded.settings.connectors.items()
        store = self.executor.store
        return {n: c for n, c in items if c.enabled and migration_of(store, n) is None}

    def tick(self) -> list[Slot]:
        """Start due work not yet handled by this instance; return the slots started.

        Per connector and kind: the oldest unfinished slot within the misfire grace (one whose
        holder died) before the latest due slot.
        """
        at = self.clock()
        started = []
        for name, settings in self.connectors.items():
            for kind, due in (
                ("full", due_slot(settings, at)),
                ("incremental", incremental_slot(settings, at)),
            ):
                if due is None or self.executor.busy(name):
                    continue
                since = at - timedelta(seconds=settings.schedule.misfire_grace)
                orphan = slots.oldest_unfinished(self.executor.store, name, kind, since)
                when = orphan if orphan is not None and orphan < due else due
                if self._done.get((name, kind)) == when:
                    continue
                if kind == "incremental" and not self._incremental_ok(name):
                    continue
                slot = Slot(name, kind, when)
                self._done[(name, kind)] = when
                started.append(slot)
                self._spawn(slot)
        return started

    def _incremental_ok(self, name: str) -> bool:
        from idpsync.errors import SourceError
        from idpsync.service.executor import supports_incremental
        from idpsync.sources.registry import build_source

        try:
            source = build_source(self.executor.loaded, self.executor.loaded.connector(name))
        except SourceError:
            return False
        return supports_incremental(source)

    def _spawn(self, slot: Slot) -> None:
        log.info(
            "scheduled %s run due",
            slot.kind,
            extra={"connector": slot.connector, "mode": slot.kind, "slot": slot.at.isoformat()},
        )

        async def go() -> None:
            result = await self.executor.run(
                slot.connector, slot=slot, incremental=slot.kind == "incremental"
            )
            if result is None and self.executor.state(slot.connector).skipped == "locked":
                # Another instance holds the lock: look again later in case it dies mid-run.
                self._done.pop((slot.connector, slot.kind), None)

        task = asyncio.get_running_loop().create_task(go())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def check_overdue(self) -> list[str]:
        """Alert (once per episode) for connectors without a succeeded run for too long.

        Also reviews every connector's other conditions (an approval left unanswered).
        """
        at = self.clock()
        late = []
        for name, settings in self.connectors.items():
            await self.executor.review(name, at)
            limit = overdue_limit(settings, at)
            if limit is None:
                continue
            last = last_good_run(self.executor, name) or self.started
            holding = {}
            if (at - last).total_seconds() > limit:
                late.append(name)
                message = f"no successful sync since {last.isoformat()} (limit {int(limit)} s)"
                holding["overdue"] = Firing(message)
            sent = await self.executor.book.reconcile(name, ("overdue",), holding)
            for alert in sent:
                if alert.state == "firing":
                    self.executor.metrics.alerts.labels("overdue").inc()
        return late

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Tick until ``stop`` is set."""
        interval = self.executor.loaded.settings.service.tick_seconds
        rounds = 0
        while not stop.is_set():
            try:
                self.tick()
                if rounds % 30 == 0:
                    await self.check_overdue()
            except Exception:
                log.exception("scheduler tick failed")
            rounds += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def last_good_run(executor: Executor, name: str) -> datetime | None:
    """When the connector's newest succeeded run finished (a partial one is not good)."""
    r = t.runs.c
    with executor.store.engine.connect() as conn:
        value = conn.execute(
            sa.select(sa.func.max(r.finished_at)).where(
                r.connector == name, r.status.in_(GOOD), r.dry_run.is_(False)
            )
        ).scalar()
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def deliver_forever(executor: Executor, stop: asyncio.Event) -> None:
    """Deliver to every enabled target, one round every ``delivery_interval`` seconds."""
    settings = executor.loaded.settings
    while not stop.is_set():
        for name, target in settings.targets.items():
            if target.enabled:
                await asyncio.to_thread(deliver_once, executor, name)
                await review_target(executor, name)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.service.delivery_interval)


async def review_target(executor: Executor, name: str) -> None:
    """Send (or resolve) the target's down/quarantined alerts; never raises."""
    try:
        holding = target_conditions(
            name, TargetState(executor.store, name).row(), held_users(executor.store, name)
        )
        sent = await executor.book.reconcile(name, TARGET_KINDS, holding, target=True)
    except Exception:
        log.exception("cannot work out the alerts of target %s", name)
        return
    for alert in sent:
        if alert.state == "firing":
            executor.metrics.alerts.labels(alert.kind).inc()


def deliver_once(executor: Executor, name: str) -> None:
    """One delivery round to the target ``name``; a broken round marks the target down."""
    settings = executor.loaded.target(name)

    async def go() -> None:
        async with http_client(settings) as client:
            await run_delivery(executor.store, name, settings, client)

    try:
        asyncio.run(go())
    except Exception as exc:
        log.exception("delivery to target %s failed", name, extra={"target": name})
        error = f"delivery broke: {type(exc).__name__}: {exc}"
        TargetState(executor.store, name).record_round(DOWN, last_error=error[:2000])
    cursor = int(TargetState(executor.store, name).row()["cursor"])
    lag = pending_count(executor.store, cursor, settings.connectors)
    executor.metrics.target_lag.labels(name).set(lag)
    executor.metrics.target_held.labels(name).set(len(held_users(executor.store, name)))
