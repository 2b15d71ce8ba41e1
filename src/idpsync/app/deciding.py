"""Deciding a connector's plan with what the store holds (:func:`decide_in_store`).

A sync run decides *in the store*: users and groups are loaded into Python (the mapping needs
them there), but the membership edges stay in their tables. The directory is loaded without
edges (``Store.load_directory(memberships=False)``), the policy reads the members of its
required groups level by level, and the membership changes are computed in SQL under the
decision's :class:`~idpsync.engine.edges.EdgeRule` (:mod:`idpsync.store.edge_diff`), so only
the edges that change become Python objects. Other callers (explain, a single-user sync, the
store check, migrations) pass the directory they loaded, with its edges, and decide in Python.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from idpsync.config import ConnectorSettings
from idpsync.engine.cleanup import Missing
from idpsync.engine.collisions import Taken
from idpsync.engine.decide import Decision, decide
from idpsync.engine.edges import EdgePlanner
from idpsync.engine.policy import PolicyResult
from idpsync.model import DirectoryState, Snapshot
from idpsync.sources.registry import preset
from idpsync.store import marks
from idpsync.store.edge_diff import StoreEdges
from idpsync.store.store import Store, now


def decide_in_store(
    conn: Connection,
    store: Store,
    name: str,
    settings: ConnectorSettings,
    staged: Snapshot,
    *,
    extra_taken: Taken | None = None,
    current: DirectoryState | None = None,
    in_store: bool = False,
    edges: EdgePlanner | None = None,
    marked: tuple[dict[str, Missing], set[str]] | None = None,
) -> Decision:
    """Run the policy pipeline with what it needs from the store and the connector's preset.

    ``in_store``: diff the membership edges in the database (see the module doc; ``staged``
    must be what the run staged, and ``current`` is then loaded without edges). Otherwise
    ``staged`` and ``current`` (loaded here when not given) carry the edges. ``edges`` (with
    ``in_store``): where the edges are diffed instead of the whole store (an incremental plan,
    :mod:`idpsync.app.incremental`, whose ``staged`` and ``current`` hold only its users).
    ``marked``: the connector's missing marks and locally disabled users, when the caller read
    them in this transaction already (:func:`read_marks`).
    """

    def taken(result: PolicyResult) -> Taken:
        users = result.desired.users.values()
        found = marks.taken_names(
            conn,
            name,
            [u.login for u in users],
            [u.email or "" for u in users],
            [g.name for g in result.desired.groups.values()],
        )
        if extra_taken is None:
            return found
        return Taken(
            {**extra_taken.logins, **found.logins},
            {**extra_taken.emails, **found.emails},
            {**extra_taken.group_names, **found.group_names},
        )

    if current is None:
        current = store.load_directory(conn, name, memberships=not in_store)
    missing, local_off = marked if marked is not None else read_marks(conn, name)
    return decide(
        staged,
        settings,
        current,
        connector=name,
        taken=taken,
        missing=missing,
        local_off=local_off,
        now=now(),
        preset=preset(settings.source.type),
        edges=(edges or StoreEdges(conn, name)) if in_store else None,
    )


def read_marks(conn: Connection, name: str) -> tuple[dict[str, Missing], set[str]]:
    """The connector's users counted as missing and those disabled locally (one read)."""
    return marks.user_marks(conn, name)
