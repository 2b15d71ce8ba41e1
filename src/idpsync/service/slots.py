"""Scheduled slots: every scheduled run executes once across all instances.

A slot is (connector, kind, time). The instance that wants to run a slot first takes the
connector's run lock (:mod:`idpsync.service.locks`), then claims the slot's row with
``INSERT … ON CONFLICT DO NOTHING``. Holding the lock, it reads the row back:

- finished: another instance ran it; nothing to do;
- claimed by an instance that started a run which has since finished (it died between the
  run's commit and marking the slot): the slot is marked with that run's outcome, not re-run;
- otherwise (new, or its holder died mid-run: the lock was free, so the holder is gone):
  this instance takes it over and runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from idpsync.store import schema as t
from idpsync.store.store import Store, now


@dataclass(frozen=True, slots=True)
class Slot:
    """One scheduled run."""

    connector: str
    kind: str
    """``full`` or ``incremental``."""
    at: datetime
    """The schedule's time for it (UTC)."""


def _insert(conn: Connection) -> sa.Insert:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(t.schedule_slots).on_conflict_do_nothing()
    return sqlite.insert(t.schedule_slots).on_conflict_do_nothing()


def _where(slot: Slot) -> sa.ColumnElement[bool]:
    c = t.schedule_slots.c
    return sa.and_(c.connector == slot.connector, c.kind == slot.kind, c.slot_at == slot.at)


def claim(store: Store, slot: Slot, owner: str) -> bool:
    """Claim ``slot`` for ``owner`` (``host:pid``); call only while holding the run lock."""
    with store.transaction() as conn:
        conn.execute(
            _insert(conn).values(
                connector=slot.connector,
                kind=slot.kind,
                slot_at=slot.at,
                claimed_by=owner,
                claimed_at=now(),
            )
        )
        row = conn.execute(sa.select(t.schedule_slots).where(_where(slot))).one()
        if row.finished_at is not None:
            return False
        if row.claimed_by != owner:
            done = _finished_run(conn, slot.connector, row.claimed_by, row.claimed_at)
            if done is not None:
                conn.execute(
                    t.schedule_slots.update()
                    .where(_where(slot))
                    .values(run_id=done[0], status=done[1], finished_at=now())
                )
                return False
            _interrupt(conn, slot.connector, row.claimed_by)
            conn.execute(
                t.schedule_slots.update()
                .where(_where(slot))
                .values(claimed_by=owner, claimed_at=now())
            )
    return True


def _finished_run(
    conn: Connection, connector: str, holder: str, since: datetime
) -> tuple[int, str] | None:
    """A run the slot's previous holder started after claiming it and that finished."""
    host, _, pid = holder.rpartition(":")
    r = t.runs.c
    row = conn.execute(
        sa.select(r.id, r.status)
        .where(
            r.connector == connector,
            r.host == host,
            r.pid == int(pid or 0),
            r.started_at >= since,
            r.status.not_in(("running", "interrupted")),
        )
        .order_by(r.id)
    ).first()
    return (int(row.id), str(row.status)) if row is not None else None


def _interrupt(conn: Connection, connector: str, holder: str) -> None:
    """Mark the dead holder's runs of the connector that are still ``running`` as interrupted.

    Its lock session ended, so it is gone, on whichever host it ran (the runner itself only
    notices dead processes on its own host).
    """
    host, _, pid = holder.rpartition(":")
    r = t.runs.c
    conn.execute(
        t.runs.update()
        .where(
            r.connector == connector,
            r.host == host,
            r.pid == int(pid or 0),
            r.status == "running",
        )
        .values(
            status="interrupted",
            finished_at=now(),
            message="the idpsync instance running this sync ended before it finished; "
            "nothing of it was applied; another instance ran the scheduled sync again",
        )
    )


def finish(store: Store, slot: Slot, run_id: int | None, status: str) -> None:
    """Mark the slot as done with its run's outcome."""
    with store.transaction() as conn:
        conn.execute(
            t.schedule_slots.update()
            .where(_where(slot))
            .values(run_id=run_id, status=status, finished_at=now())
        )


def recent(store: Store, limit: int = 100) -> list[dict[str, object]]:
    """The newest slots first (for the dashboard and tests)."""
    c = t.schedule_slots.c
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(t.schedule_slots).order_by(c.slot_at.desc()).limit(limit))
        return [dict(r._mapping) for r in rows]


def oldest_unfinished(store: Store, connector: str, kind: str, since: datetime) -> datetime | None:
    """The oldest slot claimed since ``since`` that no run has finished (its holder may be dead)."""
    c = t.schedule_slots.c
    with store.engine.connect() as conn:
        value = conn.execute(
            sa.select(sa.func.min(c.slot_at)).where(
                c.connector == connector,
                c.kind == kind,
                c.slot_at >= since,
                c.finished_at.is_(None),
            )
        ).scalar()
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
