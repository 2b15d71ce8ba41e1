"""Moving directory rows and target links from one connector to another (for a handover).

Every function runs in the caller's transaction and moves rows *by directory id*, so the ids,
local state and history of the moved users and groups stay; only ``connector`` and
``source_id`` change. :func:`move_links` does the same for every target's object map and its
pending retries, so targets keep their accounts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from idpsync.store import schema as t
from idpsync.store.store import now

MIGRATION = "migration"
"""The key of the old connector's saved state that marks it as handed over."""


def refusal_for_sync(state: dict[str, Any], name: str) -> str | None:
    """Why connector ``name`` may not sync, given its saved state (``None``: it may)."""
    value = state.get(MIGRATION)
    if not isinstance(value, dict):
        return None
    return (
        f"connector {name!r} was handed over to {value.get('to')!r} (run {value.get('run')}) "
        f"and is disabled: undo with `idpsync connectors migrate {name} {value.get('to')} "
        f"--undo`, or remove the connector from the configuration"
    )


@dataclass(frozen=True, slots=True)
class Move:
    """One user or group handed over: its directory id and its id in each IdP."""

    id: int
    """The directory id (``users.id`` / ``groups.id``): it stays."""
    old_id: str
    """The old connector's source id."""
    new_id: str
    """The new connector's source id."""
    key: str
    """The login or group name, for people."""
    why: str = ""
    """How it was matched (``matched by email``, ``same name``)."""

    def as_row(self) -> list[object]:
        """``[id, old id, new id, key]`` for the run's report."""
        return [self.id, self.old_id, self.new_id, self.key]

    @classmethod
    def from_row(cls, row: Sequence[object]) -> Move:
        """The move a report row (:meth:`as_row`) describes."""
        return cls(int(str(row[0])), str(row[1]), str(row[2]), str(row[3]))


def move_rows(
    conn: Connection, table: sa.Table, old: str, new: str, moves: Sequence[Move], back: bool = False
) -> None:
    """Give the rows of ``moves`` to ``new`` with their new source ids (``back``: the reverse)."""
    if not moves:
        return
    frm, to = (new, old) if back else (old, new)
    statement = (
        table.update()
        .where(table.c.id == sa.bindparam("_id"), table.c.connector == frm)
        .values(connector=to, source_id=sa.bindparam("_sid"))
    )
    rows = [{"_id": m.id, "_sid": m.old_id if back else m.new_id} for m in moves]
    conn.execute(statement, rows)
    if table is t.users and not back:
        conn.execute(
            t.users.update()
            .where(t.users.c.id.in_([m.id for m in moves]))
            .values(missing_since=None, missing_runs=0)
        )


def move_memberships(
    conn: Connection, old: str, new: str, users: Sequence[Move], groups: Sequence[Move]
) -> int:
    """Give ``old``'s memberships between moved groups and moved members to ``new``."""
    m = t.memberships.c
    group_ids = [g.id for g in groups]
    members = {"user": {u.id for u in users}, "group": set(group_ids)}
    moved = 0
    for start in range(0, len(group_ids), 500):
        chunk = group_ids[start : start + 500]
        rows = conn.execute(
            sa.select(m.id, m.member_kind, m.member_id).where(
                m.connector == old, m.group_id.in_(chunk)
            )
        ).all()
        ids = [r.id for r in rows if r.member_id in members.get(r.member_kind, set())]
        for part in range(0, len(ids), 500):
            conn.execute(
                t.memberships.update().where(m.id.in_(ids[part : part + 500])).values(connector=new)
            )
        moved += len(ids)
    return moved


def move_memberships_back(conn: Connection, old: str, new: str, groups: Sequence[Move]) -> int:
    """Give the memberships of the moved groups back to ``old`` (the reverse of the above)."""
    m = t.memberships.c
    group_ids = [g.id for g in groups]
    moved = 0
    for start in range(0, len(group_ids), 500):
        moved += conn.execute(
            t.memberships.update()
            .where(m.connector == new, m.group_id.in_(group_ids[start : start + 500]))
            .values(connector=old)
        ).rowcount
    return moved


def move_links(
    conn: Connection, kind: str, old: str, new: str, moves: Sequence[Move], back: bool = False
) -> None:
    """Move every target's link (and pending retry) of the ``kind`` objects of ``moves``."""
    if not moves:
        return
    frm, to = (new, old) if back else (old, new)
    for table in (t.target_objects, t.target_failures):
        values: dict[str, object] = {"connector": to, "source_id": sa.bindparam("_to")}
        if table is t.target_objects:
            values["updated_at"] = now()
        conn.execute(
            table.update()
            .where(
                table.c.object_type == kind,
                table.c.connector == frm,
                table.c.source_id == sa.bindparam("_from"),
            )
            .values(values),
            [
                {"_from": m.new_id if back else m.old_id, "_to": m.old_id if back else m.new_id}
                for m in moves
            ],
        )


def pending_for(
    conn: Connection, connector: str, following: Mapping[str, Sequence[str]] | None = None
) -> str:
    """Targets whose cursor is behind ``connector``'s changes: ``"name: N, …"`` (empty: none).

    A handover moves the targets' links at once, so a target must have taken every earlier
    change of the old connector first. ``following``: the connectors each configured target
    follows (an empty list: all); a target that does not follow ``connector`` is not asked.
    """
    c = t.changes.c
    found = []
    for name, cursor in conn.execute(sa.select(t.targets.c.name, t.targets.c.cursor)):
        followed = (following or {}).get(name) or ()
        if followed and connector not in followed:
            continue
        count = conn.execute(
            sa.select(sa.func.count()).where(c.connector == connector, c.seq > cursor)
        ).scalar_one()
        if count:
            found.append(f"{name}: {count}")
    return ", ".join(found)
