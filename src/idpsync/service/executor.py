"""Runs syncs for the service: under the connector's run lock, in a worker thread, with progress.

Every run (scheduled, started from the API or the web pages, or an approval of a guarded
run) goes through :meth:`Executor.run`. The sync itself runs in a thread with an event loop of
its own, so the web pages stay responsive while a large directory is applied.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from idpsync.app.run import run_connector, supports_incremental
from idpsync.app.runner import RunResult
from idpsync.config import LoadedConfig
from idpsync.service import conditions, slots
from idpsync.service.alerts import Alerter
from idpsync.service.book import AlertBook
from idpsync.service.locks import ConnectorLocks
from idpsync.service.logs import bind_connector
from idpsync.service.metrics import Metrics
from idpsync.service.runlog import RunLogStore
from idpsync.sources.base import Event
from idpsync.store.store import Store

log = logging.getLogger("idpsync.service")

__all__ = ["Executor", "RunProgress", "instance_id", "supports_incremental", "utcnow"]


def utcnow() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


def instance_id() -> str:
    """The current process as ``host:pid`` (what ``runs.host``/``runs.pid`` record)."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class RunProgress:
    """What the web pages show about a connector's current or last run."""

    running: bool = False
    phase: str = ""
    message: str = ""
    done: int | None = None
    total: int | None = None
    started: float | None = None
    phase_started: float | None = None
    """When the current phase began (``time.time()``), for the estimate of the time left."""
    last_run_id: int | None = None
    last_status: str | None = None
    last_message: str | None = None
    runs_started: int = 0
    skipped: str | None = None
    """Why the last request to run did not run: ``locked`` or ``slot done``."""

    def eta(self, at: float) -> float | None:
        """Seconds left in the current phase at its pace so far; ``None`` when not countable."""
        if not (self.running and self.total and self.done and self.phase_started):
            return None
        if self.done >= self.total:
            return 0.0
        pace = (at - self.phase_started) / self.done
        return round(pace * (self.total - self.done), 1)

    def as_json(self) -> dict[str, Any]:
        """The state for the progress endpoint; ``percent`` when the phase is countable."""
        percent = None
        if self.running and self.total:
            percent = round(100 * (self.done or 0) / self.total, 1)
        elif not self.running and self.last_status is not None:
            percent = 100.0
        return {
            "running": self.running,
            "phase": self.phase,
            "message": self.message,
            "done": self.done,
            "total": self.total,
            "percent": percent,
            "eta_seconds": self.eta(time.time()),
            "last_run_id": self.last_run_id,
            "last_status": self.last_status,
            "last_message": self.last_message,
            "runs_started": self.runs_started,
        }


@dataclass(frozen=True)
class _Asked:
    """What a run was asked to do, and by whom."""

    dry_run: bool
    allow_deletes: bool
    incremental: bool
    actor: str


@dataclass
class Executor:
    """Starts runs, one at a time per connector, and remembers their progress."""

    loaded: LoadedConfig
    store: Store
    locks: ConnectorLocks
    metrics: Metrics
    alerter: Alerter
    owner: str = field(default_factory=instance_id)
    progress: dict[str, RunProgress] = field(default_factory=dict)

    @property
    def book(self) -> AlertBook:
        """The alert book over this executor's store and alerter."""
        return AlertBook(self.store, self.alerter)

    async def review(self, name: str, at: datetime | None = None) -> None:
        """Send (or resolve) the connector's alerts for what holds now; never raises."""
        settings = self.loaded.settings.service.alerts
        try:
            when = at or utcnow()
            holding = conditions.connector_conditions(self.store, name, settings, when)
            sent = await self.book.reconcile(name, conditions.CONNECTOR_KINDS, holding)
        except Exception:
            log.exception("cannot work out the alerts of connector %s", name)
            return
        for alert in sent:
            if alert.state == "firing":
                self.metrics.alerts.labels(alert.kind).inc()

    def state(self, name: str) -> RunProgress:
        """The connector's progress record."""
        return self.progress.setdefault(name, RunProgress())

    def busy(self, name: str) -> bool:
        """Whether this process runs the connector now."""
        return self.state(name).running

    async def run(
        self,
        name: str,
        *,
        dry_run: bool = False,
        allow_deletes: bool = False,
        incremental: bool = False,
        slot: slots.Slot | None = None,
        actor: str = "scheduler",
    ) -> RunResult | None:
        """Run one sync; ``None`` if the connector is busy (here or elsewhere) or the slot done.

        ``actor`` is who asked for the run: ``scheduler`` (the default), ``user:NAME`` or
        ``token:NAME``; the run records it (``runs.actor``).
        """
        state = self.state(name)
        if state.running:
            return None
        state.running, state.phase, state.message = True, "start", "waiting for the run lock"
        state.done = state.total = state.phase_started = None
        started = time.monotonic()
        try:
            try:
                asked = _Asked(dry_run, allow_deletes, incremental, actor)
                result = await asyncio.to_thread(self._locked_run, name, asked, slot)
            except Exception as exc:  # the runner recorded the run as failed already
                log.exception(
                    "run of %s ended with an internal error",
                    name,
                    extra={"connector": name, "status": "failed"},
                )
                result = RunResult(0, "failed", message=f"internal error: {type(exc).__name__}")
            if result is not None:  # alerts are out before the run shows as finished
                await self._finished(name, result, time.monotonic() - started)
            else:
                state.message = "another run of this connector holds its lock (or the slot ran)"
        finally:
            state.running = False
        return result

    def _locked_run(self, name: str, asked: _Asked, slot: slots.Slot | None) -> RunResult | None:
        state = self.state(name)
        with self.locks.hold(name) as taken:
            if not taken:
                state.skipped = "locked"
                return None
            if slot is not None and not slots.claim(self.store, slot, self.owner):
                state.skipped = "slot done"
                return None
            state.skipped = None
            state.started, state.runs_started = time.time(), state.runs_started + 1
            try:
                result = asyncio.run(self._sync(name, asked))
            except Exception:
                if slot is not None:
                    slots.finish(self.store, slot, None, "failed")
                raise
            if slot is not None:
                slots.finish(self.store, slot, result.run_id, result.status)
            return result

    async def _sync(self, name: str, asked: _Asked) -> RunResult:
        state = self.state(name)
        bind_connector(name)  # every log line of this run names the connector (and run id)

        def on_event(event: Event) -> None:
            if event.phase != state.phase or state.phase_started is None:
                state.phase_started = time.time()
            state.phase, state.message = event.phase, event.message
            state.done, state.total = event.done, event.total

        # A scheduled or requested full run is a full reconcile; an incremental one reads the
        # changes where the source can (else it is a full run too).
        return await run_connector(
            self.loaded,
            RunLogStore(self.store.engine),  # logs "run started" with the run's id
            name,
            mode="incremental" if asked.incremental else "full",
            dry_run=asked.dry_run,
            allow_deletes=asked.allow_deletes,
            progress=on_event,
            actor=asked.actor,
        )

    async def _finished(self, name: str, result: RunResult, seconds: float) -> None:
        state = self.state(name)
        state.last_run_id, state.last_status = result.run_id, result.status
        state.last_message = result.message or None
        state.phase, state.message = "done", result.status
        self.metrics.record_run(name, result, seconds)
        log.info(
            "run finished",
            extra={"connector": name, "run_id": result.run_id, "status": result.status},
        )
        await self.review(name)
