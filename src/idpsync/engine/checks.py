"""The checks a plan passes after the user guard: group and membership limits.

:func:`before_apply` is called by the runner (and by a revert) inside the run's transaction,
after :func:`idpsync.engine.guard.check`: it reads from the store only what the limits of
:mod:`idpsync.engine.limits` need (group sizes, only for groups that lose members).
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from idpsync.config import ConnectorSettings
from idpsync.engine import limits
from idpsync.engine.plan import Plan
from idpsync.store import schema as t
from idpsync.store.store import _chunks


def group_sizes(
    conn: Connection, connector: str, source_ids: list[str]
) -> tuple[dict[str, int], dict[str, str]]:
    """Direct members (of any owner) and names of the connector's groups ``source_ids``."""
    g, m = t.groups.c, t.memberships.c
    sizes: dict[str, int] = {}
    names: dict[str, str] = {}
    for chunk in _chunks(source_ids, 500):
        query = (
            sa.select(g.source_id, g.name, sa.func.count(m.id))
            .select_from(t.groups.outerjoin(t.memberships, m.group_id == g.id))
            .where(g.connector == connector, g.source_id.in_(chunk))
            .group_by(g.source_id, g.name)
        )
        for source_id, name, count in conn.execute(query):
            sizes[source_id] = int(count)
            names[source_id] = name
    return sizes, names


def before_apply(
    conn: Connection,
    connector: str,
    settings: ConnectorSettings,
    plan: Plan,
    counts: Mapping[str, int],
    *,
    allow_deletes: bool,
) -> None:
    """Refuse the plan (:class:`~idpsync.engine.guard.GuardRefused`) when it breaks a limit.

    ``counts`` are the connector's counts before the run (``Store.counts``).
    """
    if allow_deletes or not plan:
        return
    touched = sorted(limits.removed_per_group(plan))
    members, names = group_sizes(conn, connector, touched) if touched else ({}, {})
    sizes = limits.Sizes(counts["groups"], counts["memberships"], members, names)
    limits.check(plan, settings.guard, sizes, allow_deletes=allow_deletes)
