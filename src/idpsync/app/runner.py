"""The runner: one sync run from source to change log.

Source → stage → policy → plan → guard → apply, with the run recorded in ``runs``:

1. The run is recorded as ``running`` (committed at once, so a killed process leaves a trace
   that the next run marks ``interrupted``).
2. The source reads its IdP into a :class:`~idpsync.model.Snapshot`.
3. In **one transaction**: the snapshot is staged, the policy computes the desired state, the
   planner compares it with the directory (users and groups in Python, membership edges in
   the database: :mod:`idpsync.app.deciding`), the guards (:mod:`~idpsync.engine.guard`, then
   :mod:`~idpsync.app.checks`: group and membership limits, invariants) check the plan,
   and the plan and its change log are written. A guard refusal, a dry run or any error
   rolls the whole transaction back, so the directory is exactly as before. The cyclic
   garbage collector is paused meanwhile, and spaced out while the source reads
   (:mod:`idpsync.app.collector`).

The status follows :mod:`idpsync.engine.outcome`: a full read with gaps that brought back
nothing is ``failed``; ``partial`` only when some listings were read. A guard refusal leaves the
connector awaiting approval (:mod:`idpsync.store.approvals`) until a complete run with deletes
(or named invariants) allowed settles it (or it is dismissed).

Incremental runs (``mode``): a source that reads deltas (Entra) decides with
:meth:`~idpsync.sources.base.Source.wants_full` whether an automatic run may read only what
changed since its saved state (``delta()`` gets the staged mirror, whose users, groups and
memberships are each read from the store only if the source uses them, all from one read
transaction: :mod:`idpsync.store.staged_mirror`). A complete delta is applied to the staged mirror
in the database (:mod:`idpsync.app.delta`: upserts, removals, edges of removed users and groups
dropped), and the mirror's users and groups are then read back (its edges stay in the store,
where the plan diffs them) for the same policy → plan → guard → apply path; removals in a
delta are the IdP's own word, so they may remove. A complete delta is planned against the
users it touches (with every group) when the last run that changed the directory allows it
(:mod:`idpsync.app.incremental`; the run's stats say ``planned: incremental (N users, M
more edges)`` or ``full (reason)``); so is a complete full read, from what staging it
changed (:class:`~idpsync.store.stage.StageChange`). A partial delta is staged as an
incomplete snapshot of its upserts (nothing removed). A source that finds its state unusable
(an expired delta token) returns ``None`` and the run reads everything instead. The source's
new state (``Source.saved_state``) is saved in the run's transaction, and only when the read was
complete.

Once staged, a read's membership edges are let go (:func:`release_edges`): the plan reads
them from the store, so the run does not hold the tenant's edges while it plans and applies
(a complete delta keeps its few edges: they are its change); once planned, its user records
too (:func:`release_users`, unless the photo round needs them): the plan holds what apply
writes (:mod:`idpsync.app.releasing`). A source that streams its full
read (Okta) never holds them: they go into a temporary table of the connection the run's
transaction later uses, as they are read (:mod:`idpsync.app.reading`,
:mod:`idpsync.store.stream`); the stream is closed, its table dropped, however the run ends.

A shadow connector (``shadow_of``) only reads and stages: see :mod:`idpsync.app.shadow`.

Fault injection for tests: see :mod:`idpsync.app.faults`.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from idpsync.app import checks, incremental, photo_round
from idpsync.app.collector import collection_paused, collection_spaced
from idpsync.app.failures import failure_message
from idpsync.app.faults import fault
from idpsync.app.migrate_moves import refusal_for_sync
from idpsync.app.reading import read, streams
from idpsync.app.releasing import release_edges, release_users
from idpsync.config import ConnectorSettings
from idpsync.engine import guard, outcome, report
from idpsync.engine.plan import OpKind, Plan
from idpsync.model import Snapshot
from idpsync.sources.base import Event, Progress, Source, no_progress
from idpsync.sources.clean import CheckedEdges, normalise
from idpsync.store import approvals, marks, run_objects
from idpsync.store.apply import apply_plan
from idpsync.store.store import Store
from idpsync.store.stream import EdgeStream, Streamed


@dataclass
class RunResult:
    """The outcome of one run."""

    run_id: int
    """The run's id in the store."""
    status: str
    """``succeeded``, ``partial`` (some listings failed), ``dry_run``, ``guarded`` or ``failed``
    (see :mod:`idpsync.engine.outcome`)."""
    plan: Plan = field(default_factory=Plan)
    """What was (or, for a dry run or a guarded run, would have been) changed."""
    complete: bool = True
    """Whether the snapshot was complete."""
    message: str = ""
    """Why a run failed, was guarded or is partial."""
    stats: dict[str, Any] = field(default_factory=dict)
    """Counters: requests, seconds per phase, object counts."""
    details: dict[str, Any] = field(default_factory=dict)
    """Skipped objects with reasons, users in a grace period, warnings (see ``report``)."""

    @property
    def ok(self) -> bool:
        """Whether the run did what was asked (a dry run counts as ok; a partial run does not)."""
        return outcome.exit_code(self.status) == 0

    def summary(self) -> dict[str, int]:
        """Counts per change kind."""
        return summarize(self.plan)


def summarize(p: Plan) -> dict[str, int]:
    """The summary table of a plan: users, groups and memberships by change."""
    counts = p.summary()  # one pass over the ops
    return {name: counts.get(kind.value, 0) for name, kind in _SUMMARY.items()}


_SUMMARY = {
    "users_created": OpKind.CREATE_USER,
    "users_updated": OpKind.UPDATE_USER,
    "users_deactivated": OpKind.DEACTIVATE_USER,
    "users_reactivated": OpKind.REACTIVATE_USER,
    "users_deleted": OpKind.DELETE_USER,
    "users_anonymised": OpKind.ANONYMISE_USER,
    "users_relinked": OpKind.RELINK_USER,
    "groups_created": OpKind.CREATE_GROUP,
    "groups_updated": OpKind.UPDATE_GROUP,
    "groups_deleted": OpKind.DELETE_GROUP,
    "memberships_added": OpKind.ADD_MEMBER,
    "memberships_removed": OpKind.REMOVE_MEMBER,
}


class Rollback(Exception):
    """Raised inside the transaction to undo it (dry run, guard)."""


def lock(conn: Connection, connector: str) -> None:
    """Serialise runs of one connector (SQLite: ``BEGIN IMMEDIATE`` already does)."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
            {"key": f"idpsync:{connector}"},
        )


async def run_sync(
    store: Store,
    name: str,
    settings: ConnectorSettings,
    source: Source,
    *,
    dry_run: bool = False,
    allow_deletes: bool = False,
    progress: Progress = no_progress,
    mode: str = "auto",
    allow_invariants: Collection[str] = (),
    actor: str | None = None,
) -> RunResult:
    """Run one sync of connector ``name``; never raises for a failed sync.

    ``mode``: ``full`` reads everything; ``incremental`` reads a delta when the source has a
    saved state; ``auto`` lets the source choose (its full-sync schedule).
    ``allow_invariants`` names invariants the run may break (``--allow-invariant``); ``actor``
    is who started the run (recorded as ``runs.actor``).
    """
    with store.transaction() as conn:
        state = store.connector_state(conn, name)
    handed_over = refusal_for_sync(state, name)
    if handed_over is not None:
        run_id = store.start_run(name, "full", dry_run, actor)
        store.finish_run(run_id, "failed", message=handed_over)
        return RunResult(run_id, "failed", message=handed_over, complete=False)
    incremental = bool(state) and (
        mode == "incremental" or (mode == "auto" and not source.wants_full(state))
    )
    kind = "shadow" if settings.shadow_of else "incremental" if incremental else "full"
    source.prior_state = dict(state or {})
    run_id = store.start_run(name, kind, dry_run, actor)
    stream = EdgeStream(store.engine) if streams(store, settings, source) else None
    try:
        return await _read_and_run(
            store, name, settings, source, run_id, stream, state if incremental else None,
            dry_run=dry_run, allow_deletes=allow_deletes, progress=progress,
            allow_invariants=allow_invariants,
        )  # fmt: skip
    finally:  # a failed or cancelled read too: the streamed edges are dropped
        if stream is not None:
            stream.close()


async def _read_and_run(
    store: Store,
    name: str,
    settings: ConnectorSettings,
    source: Source,
    run_id: int,
    stream: EdgeStream | None,
    state: dict[str, Any] | None,
    *,
    dry_run: bool,
    allow_deletes: bool,
    progress: Progress,
    allow_invariants: Collection[str],
) -> RunResult:
    timings: dict[str, float] = {}
    started = time.monotonic()
    checked = None if stream is None else CheckedEdges(stream)
    try:
        photos_before = photo_round.prepare(store, name, source)
        with collection_spaced():  # young collections spaced out while it reads
            snap = normalise(await read(store, name, source, state, progress, checked))
        streamed = None if stream is None else stream.streamed()  # the last edges written
        if checked is not None:
            checked.mark(snap)
        skip = dry_run or settings.shadow_of is not None  # neither keeps what it would download
        photos = None if skip else await photo_round.download(source, snap, photos_before)
    except Exception as exc:  # a source error, or a bug: the run ends failed, never running
        message = failure_message(exc, store.engine.url)
        store.finish_run(run_id, "failed", message=message, stats=_stats(source, timings))
        progress(Event("done", f"failed: {message}"))
        return RunResult(run_id, "failed", message=message, complete=False)
    timings["fetch_seconds"] = round(time.monotonic() - started, 3)
    if failure := outcome.read_failure(snap, full=source.stats.extra.get("read") != "delta"):
        store.finish_run(run_id, "failed", message=failure, stats=_stats(source, timings))
        progress(Event("done", f"failed: {failure}"))
        return RunResult(run_id, "failed", message=failure, complete=False)
    if settings.shadow_of:  # stage only (imported here: app.shadow builds on this module)
        from idpsync.app.shadow import stage_only

        stats = _stats(source, timings)
        args = (store, name, settings.shadow_of, source, snap, run_id)
        return stage_only(*args, dry_run=dry_run, progress=progress, stats=stats)
    return _stage_plan_apply(
        store,
        name,
        settings,
        source,
        snap,
        run_id,
        photos=photos,
        dry_run=dry_run,
        allow_deletes=allow_deletes,
        progress=progress,
        timings=timings,
        allow_invariants=allow_invariants,
        stream=stream,
        streamed=streamed,
    )


def _stage_plan_apply(
    store: Store,
    name: str,
    settings: ConnectorSettings,
    source: Source,
    snap: Snapshot,
    run_id: int,
    *,
    dry_run: bool,
    allow_deletes: bool,
    progress: Progress,
    timings: dict[str, float],
    allow_invariants: Collection[str] = (),
    photos: photo_round.PhotoRound | None = None,
    stream: EdgeStream | None = None,
    streamed: Streamed | None = None,
) -> RunResult:
    result = RunResult(run_id, "running", complete=snap.complete)
    result.message = "; ".join(snap.incomplete_reasons)
    left: list[dict[str, Any]] = []  # what the run did not sync, for the run page
    held = stream if streamed is not None else None  # the streamed edges' connection
    try:
        with (
            collection_paused(),
            held.transaction() if held is not None else store.transaction(run=True) as conn,
        ):
            lock(conn, name)
            store.ensure_connector(conn, name, source.type)
            mark = time.monotonic()
            progress(Event("stage", f"staging {len(snap.users)} users, {len(snap.groups)} groups"))
            before = store.counts(conn, name)
            ground = incremental.basis(conn, name, settings, snap, run_id)
            change = store.write_stage(conn, name, snap, run_id, streamed)  # a delta: in SQL
            release_edges(snap)
            timings["stage_seconds"] = round(time.monotonic() - mark, 3)

            mark = time.monotonic()
            progress(Event("plan", "planning"))
            planned = incremental.decide_run(conn, store, name, settings, snap, ground, change)
            decision, staged = planned.decision, planned.staged
            progress(Event("plan", f"planned: {planned.note}"))
            result.plan = decision.plan
            result.details = report.details(decision)
            left = report.left_out(decision, staged)
            keep = photos is not None and photo_round.reads_users(photos)
            release_users(snap, photos=keep)  # the plan holds what apply writes
            timings["plan_seconds"] = round(time.monotonic() - mark, 3)
            mark = time.monotonic()  # the guards and checks (limits, invariants)
            previous_run, previous_users = marks.last_good_read(conn, name)
            guard.check(
                result.plan,
                settings.guard,
                guard.GuardContext(
                    snap.complete,
                    before["active_users"],
                    allow_deletes,
                    snapshot_users=planned.users,
                    previous_users=previous_users,
                    previous_run=previous_run,
                ),
            )
            checks.before_apply(
                conn,
                store,
                name,
                settings,
                result.plan,
                before,
                allow_deletes=allow_deletes,
                allow_invariants=allow_invariants,
            )
            timings["check_seconds"] = round(time.monotonic() - mark, 3)
            if dry_run:
                raise Rollback
            mark = time.monotonic()
            progress(
                Event(
                    "apply", f"applying {len(result.plan)} changes", done=0, total=len(result.plan)
                )
            )
            apply_plan(store, conn, name, run_id, result.plan, checkpoint=fault, rows=planned.rows)
            if snap.complete:
                missing = decision.cleanup.missing
                marks.track_missing(conn, name, missing, decision.policy.desired.users.keys())
                if source.saved_state is not None:
                    store.set_connector_state(conn, name, source.saved_state)
            if photos is not None:  # downloaded before the transaction (photo_round)
                photo_round.record(conn, name, photos, snap)
                if photos.active:
                    result.details["photos"], left = photos.report(), [*left, *photos.left_out()]
            timings["apply_seconds"] = round(time.monotonic() - mark, 3)
            mark = time.monotonic()
            run_objects.record(conn, run_id, (), left)
            result.status = outcome.read_status(snap)
            if snap.complete and (allow_deletes or allow_invariants):
                approvals.settle(conn, name, run_id, "approved")
            timings["record_seconds"] = round(time.monotonic() - mark, 3)
            result.stats = {
                **_stats(source, timings),
                "source_users": planned.users,
                "source_groups": planned.groups,
                "planned": planned.note,
                "policy_digest": incremental.digest(settings),
                "left_out": len(left),
                **(photos.stats() if photos is not None and photos.active else {}),
            }
            store.finish_run(
                run_id,
                result.status,
                conn=conn,
                complete=snap.complete,
                summary=result.summary(),
                stats=result.stats,
                message=result.message or None,
                report=result.details,
            )
    except Rollback:
        result.status = "dry_run"
    except guard.GuardRefused as exc:
        result.status = "guarded"
        result.message = str(exc)
        if not dry_run:
            summary = result.summary()
            approvals.await_approval(store, name, run_id, str(exc), summary, result.plan)
    except Exception as exc:
        # rolled back; the run ends failed with one line, never left running
        result.status, result.message = "failed", failure_message(exc, store.engine.url)
        store.finish_run(
            run_id,
            "failed",
            complete=snap.complete,
            message=result.message,
            stats=_stats(source, timings),
        )
    if result.status in ("dry_run", "guarded"):
        result.stats = _stats(source, timings)
        entries = [report.op_entry(op) for op in result.plan.shown()]
        run_objects.record_apart(store, run_id, entries, left)
        store.finish_run(
            run_id,
            result.status,
            complete=snap.complete,
            summary=result.summary(),
            stats=result.stats,
            message=result.message or None,
            report=result.details,
        )
    progress(Event("done", result.status))
    return result


def _stats(source: Source, timings: dict[str, float]) -> dict[str, Any]:
    stats = asdict(source.stats)
    extra = stats.pop("extra")
    return {**stats, **extra, **timings}
