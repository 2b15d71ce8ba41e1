"""``config check --against-store``: the invariants on the staged mirror, without the IdP.

For each connector with invariants, the connector's staged mirror (what its IdP last returned)
goes through the configured policy and planner as a run would, and the invariants are
evaluated on the directory that run would leave. Nothing is written and no IdP is called, so a
configuration change (a new scope, a new invariant) can be checked in CI against a copy of the
store.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from idpsync.app.deciding import decide_in_store
from idpsync.config import ConnectorSettings
from idpsync.engine import invariants
from idpsync.engine.plan import apply_ops
from idpsync.store.store import Store


@dataclass
class StoreCheck:
    """What one connector's invariants say about the directory a run would leave."""

    connector: str
    """The connector."""
    staged: bool
    """Whether the store holds a staged mirror of the connector (it ran at least once)."""
    breaches: dict[str, list[str]] = field(default_factory=dict)
    """Offenders by invariant name (empty: every invariant holds)."""
    lines: list[str] = field(default_factory=list)
    """One line per broken invariant, for people."""


def check_connector(store: Store, name: str, settings: ConnectorSettings) -> StoreCheck:
    """Evaluate ``settings.invariants`` on the directory a run from the staged mirror leaves."""
    with store.read() as conn:
        staged = store.load_stage(conn, name)
        if not (staged.users or staged.groups):
            return StoreCheck(name, staged=False)
        current = store.load_directory(conn, name)
        decision = decide_in_store(conn, store, name, settings, staged, current=current)
        after = apply_ops(current, decision.plan.ops)
    found = invariants.breaches(after, settings.invariants)
    return StoreCheck(name, True, found, invariants.describe(settings.invariants, found))
