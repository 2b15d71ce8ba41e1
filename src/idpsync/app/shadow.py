"""A shadow run: read the IdP and stage what it returned, never touching the directory.

A connector with ``shadow_of = "okta"`` stands beside the connector it will replace during a
move between IdPs (``docs/migration.md``). Its runs read the IdP exactly as a normal run does
and rewrite the connector's staged mirror (``source_users``, ``source_groups``,
``source_memberships``), so ``idpsync connectors compare`` can pair its people with the old
connector's. Nothing else is written: no policy, no plan, no guard, no directory row, no entry
in the change log, so targets receive nothing. The run is recorded with mode ``shadow`` and a
message such as ``shadow of okta: staged 980 users, 40 groups; directory unchanged``.

A complete read also saves the source's delta state (the shadow's own), so later shadow runs
may read only the changes. A dry run stages nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from idpsync.app.failures import failure_message
from idpsync.app.runner import Rollback, RunResult, lock
from idpsync.engine import outcome
from idpsync.model import Snapshot
from idpsync.sources.base import Event, Progress, Source
from idpsync.store.stage import is_mirror, staged_counts
from idpsync.store.store import Store

MODE = "shadow"
"""``runs.mode`` of a shadow connector's runs."""


def stage_only(
    store: Store,
    name: str,
    shadow_of: str,
    source: Source,
    snap: Snapshot,
    run_id: int,
    *,
    dry_run: bool,
    progress: Progress,
    stats: Mapping[str, Any],
) -> RunResult:
    """Stage ``snap`` as connector ``name``'s mirror and record the run; never raises.

    The directory, the change log and the targets are left exactly as they were.
    """
    result = RunResult(run_id, "running", complete=snap.complete)
    staged = f"{len(snap.users)} users, {len(snap.groups)} groups"
    _count(result, snap, stats, shadow_of, (len(snap.users), len(snap.groups)))
    try:
        with store.transaction() as conn:
            lock(conn, name)
            store.ensure_connector(conn, name, source.type)
            progress(Event("stage", f"staging {staged} (shadow of {shadow_of})"))
            store.write_stage(conn, name, snap, run_id)
            if dry_run:
                raise Rollback
            if not is_mirror(snap) and snap.complete:  # a delta: the mirror's size after it
                _count(result, snap, stats, shadow_of, staged_counts(conn, name))
            if snap.complete and source.saved_state is not None:
                store.set_connector_state(conn, name, source.saved_state)
            result.status = outcome.read_status(snap)
            _finish(store, result, conn=conn)
    except Rollback:
        result.status = "dry_run"
        result.message = f"shadow of {shadow_of}: dry run, read {staged}; nothing was staged"
        _finish(store, result)
    except Exception as exc:  # rolled back: the run ends failed with one line
        result.status, result.message = "failed", failure_message(exc, store.engine.url)
        _finish(store, result)
    progress(Event("done", result.status))
    return result


def _count(
    result: RunResult,
    snap: Snapshot,
    stats: Mapping[str, Any],
    shadow_of: str,
    counts: tuple[int, int],
) -> None:
    """The run's counts (users, groups staged) and its message."""
    users, groups = counts
    result.stats = {**stats, "source_users": users, "source_groups": groups}
    result.message = f"shadow of {shadow_of}: staged {users} users, {groups} groups"
    result.message += "; directory unchanged"
    if snap.incomplete_reasons:
        result.message += "; " + "; ".join(snap.incomplete_reasons)


def _finish(store: Store, result: RunResult, conn: Any = None) -> None:
    store.finish_run(
        result.run_id,
        result.status,
        conn=conn,
        complete=result.complete,
        summary=result.summary(),
        stats=result.stats,
        message=result.message,
    )
