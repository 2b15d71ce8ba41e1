"""The checks a plan passes after the user guard: group and membership limits, invariants.

:func:`before_apply` is called by the runner (and by a revert) inside the run's transaction,
after :func:`idpsync.engine.guard.check`. It reads from the store only what it needs: group
sizes for groups that lose members (:mod:`idpsync.engine.limits`), and, when the connector has
invariants, the directory before the run (:mod:`idpsync.engine.invariants`). Without
invariants the directory is not read here at all; with them it is read once per run, unless
the caller passes the state it already holds (a revert does).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from idpsync.config import ConnectorSettings
from idpsync.engine import invariants, limits
from idpsync.engine.plan import Op, OpKind, Plan, apply_ops
from idpsync.model import DirectoryState
from idpsync.store import schema as t
from idpsync.store.store import Store


def batches(items: list[str], size: int = 500) -> Iterator[list[str]]:
    """``items`` in lists of at most ``size`` (for ``IN`` clauses)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def group_sizes(
    conn: Connection, connector: str, source_ids: list[str]
) -> tuple[dict[str, int], dict[str, str]]:
    """Direct members (of any owner) and names of the connector's groups ``source_ids``.

    Two set-based reads: the groups by ``(connector, source_id)`` (indexed), then one count of
    the memberships of the connector's groups, grouped by group. ``memberships`` has no index
    that starts with ``group_id``, so a join per group scanned the whole table once per group
    (groups x memberships rows, minutes at a million memberships); the grouped count reads it
    once, whatever the number of groups.
    """
    g, m = t.groups.c, t.memberships.c
    by_id: dict[int, str] = {}
    names: dict[str, str] = {}
    for chunk in batches(source_ids):
        query = sa.select(g.id, g.source_id, g.name).where(
            g.connector == connector, g.source_id.in_(chunk)
        )
        for row_id, source_id, name in conn.execute(query):
            by_id[int(row_id)] = source_id
            names[source_id] = name
    sizes = dict.fromkeys(names, 0)
    if by_id:
        owned = sa.select(g.id).where(g.connector == connector)
        counts = (
            sa.select(m.group_id, sa.func.count()).where(m.group_id.in_(owned)).group_by(m.group_id)
        )
        for group_id, count in conn.execute(counts):
            if (source_id := by_id.get(int(group_id))) is not None:
                sizes[source_id] = int(count)
    return sizes, names


def every_op(plan: Plan) -> list[Op]:
    """The plan's operations with its additions kept in the store read back as objects."""
    if plan.stored is None:
        return plan.ops
    reason = "member in the IdP"
    adds = [
        Op(OpKind.ADD_MEMBER, e.group_id, member=e, reason=reason) for e in plan.stored.edges.read()
    ]
    return plan.with_adds(adds)


def before_apply(
    conn: Connection,
    store: Store,
    connector: str,
    settings: ConnectorSettings,
    plan: Plan,
    counts: Mapping[str, int],
    *,
    allow_deletes: bool,
    allow_invariants: Collection[str] = (),
    current: DirectoryState | None = None,
) -> None:
    """Refuse the plan (:class:`~idpsync.engine.guard.GuardRefused`) when it breaks a limit.

    ``counts`` are the connector's counts before the run (``Store.counts``). ``allow_deletes``
    lifts the limits, never the invariants; ``allow_invariants`` names invariants let through.
    ``current`` is the connector's directory before the run when the caller has it already
    (read in this transaction); otherwise it is loaded, and only when there are invariants.
    """
    if not plan:
        return
    if not allow_deletes:
        touched = sorted(limits.removed_per_group(plan))
        members, names = group_sizes(conn, connector, touched) if touched else ({}, {})
        sizes = limits.Sizes(counts["groups"], counts["memberships"], members, names)
        limits.check(plan, settings.guard, sizes, allow_deletes=False)
    if settings.invariants:
        if current is None:
            current = store.load_directory(conn, connector)
        after = apply_ops(current, every_op(plan))
        invariants.check(current, after, settings.invariants, allowed=allow_invariants)
