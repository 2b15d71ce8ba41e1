"""Running a configured connector: build its source, run the sync, close the source.

``idpsync sync``/``sync-user`` and the service's executor both go through here, so a run
started from the command line, the schedule or the web pages reads and closes its IdP the same
way. :func:`prepare` builds the source (a :class:`~idpsync.errors.SourceError` when the
connector cannot be built: a missing secret, an unreadable key file); the command line reports
that as a usage error before anything is recorded. :func:`run_connector` is what the service
calls: a source that cannot be built ends as a failed run in the store, with its own id.

A run of mode ``incremental`` on a source that cannot read changes (no
:meth:`~idpsync.sources.base.Source.delta`) is a full run.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from idpsync.app.failures import failure_message
from idpsync.app.runner import RunResult, run_sync
from idpsync.app.single import run_sync_user
from idpsync.config import ConnectorSettings, LoadedConfig
from idpsync.sources.base import Progress, Source, no_progress
from idpsync.sources.registry import build_source
from idpsync.store.store import Store

Mode = Literal["auto", "full", "incremental"]
"""``full`` reads everything, ``incremental`` the changes since the last run where the source
can, ``auto`` lets the source choose (its full-sync schedule)."""


def supports_incremental(source: Source) -> bool:
    """Whether the source can read changes only (it implements :meth:`Source.delta`)."""
    return type(source).delta is not Source.delta


@dataclass
class ConnectorRun:
    """A connector with its source built, ready to run once; the source is closed after."""

    name: str
    """The connector's name in the configuration."""
    settings: ConnectorSettings
    """The connector's settings."""
    source: Source
    """The source, built from the settings (closed when the run ends)."""

    async def sync(
        self,
        store: Store,
        *,
        mode: Mode = "auto",
        dry_run: bool = False,
        allow_deletes: bool = False,
        progress: Progress = no_progress,
        allow_invariants: Collection[str] = (),
        actor: str | None = None,
    ) -> RunResult:
        """Sync the whole connector (see :func:`idpsync.app.runner.run_sync`); never raises.

        ``actor`` is who started the run (``runs.actor``).
        """
        if mode == "incremental" and not supports_incremental(self.source):
            mode = "full"
        try:
            return await run_sync(
                store,
                self.name,
                self.settings,
                self.source,
                dry_run=dry_run,
                allow_deletes=allow_deletes,
                progress=progress,
                mode=mode,
                allow_invariants=allow_invariants,
                actor=actor,
            )
        finally:
            await self.source.aclose()

    async def sync_user(
        self, store: Store, key: str, *, dry_run: bool = False, actor: str | None = None
    ) -> RunResult:
        """Sync one user (see :func:`idpsync.app.single.run_sync_user`)."""
        try:
            return await run_sync_user(
                store, self.name, self.settings, self.source, key, dry_run=dry_run, actor=actor
            )
        finally:
            await self.source.aclose()


def prepare(loaded: LoadedConfig, name: str) -> ConnectorRun:
    """The connector ``name`` with its source built; ``SourceError`` when it cannot be built."""
    settings = loaded.connector(name)
    return ConnectorRun(name, settings, build_source(loaded, settings))


async def run_connector(
    loaded: LoadedConfig,
    store: Store,
    name: str,
    *,
    mode: Mode = "auto",
    dry_run: bool = False,
    allow_deletes: bool = False,
    progress: Progress = no_progress,
    actor: str | None = None,
) -> RunResult:
    """Build the connector's source and sync it; never raises for a failed run.

    A source that cannot be built (a :class:`~idpsync.errors.SourceError`, or a bug) is
    recorded as a failed full run with the reason, so it has a run id like any other. An
    unknown ``name`` is a :class:`~idpsync.config.ConfigError`. ``actor`` is who started the
    run (``scheduler``, ``user:NAME``, ``token:NAME``, ``cli:USER``), kept as ``runs.actor``.
    """
    settings = loaded.connector(name)
    try:
        source = build_source(loaded, settings)
    except Exception as exc:
        message = failure_message(exc)
        run_id = store.start_run(name, "full", dry_run, actor)
        store.finish_run(run_id, "failed", message=message)
        return RunResult(run_id, "failed", message=message, complete=False)
    return await ConnectorRun(name, settings, source).sync(
        store,
        mode=mode,
        dry_run=dry_run,
        allow_deletes=allow_deletes,
        progress=progress,
        actor=actor,
    )
