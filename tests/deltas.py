"""Generated tenants and deltas, a test source that reads either, and store dumps to compare.

A :class:`Tenant` is an IdP's state (users, groups, user and nested group edges). The
:func:`tenants` strategy draws one; :func:`changes` draws the next state and the
:class:`~idpsync.sources.base.DeltaResult` an incremental IdP would report for the step (with
the redundancy real deltas have: unchanged records upserted again, edges of removed objects
left implicit, removals of unknown ids). :class:`TenantSource` hands the runner either the
whole tenant (a full read) or the delta (an incremental read), through the public
``run_sync`` path; :func:`catch_up` is the delta an IdP sends from an older saved state (after
a guarded run or a partial delta). :func:`directory` and :func:`change_log` read what a run
left, keyed by source ids (never by row ids, which depend on the order rows were created in).
"""

from __future__ import annotations

import asyncio
import functools
import json
import sqlite3
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from hypothesis import strategies as st

from idpsync.app.runner import RunResult, run_sync
from idpsync.config import ConnectorSettings
from idpsync.model import MemberKind, Membership, Snapshot, SourceGroup, SourceUser
from idpsync.sources.base import DeltaResult, Progress, Source, no_progress
from idpsync.store import Store
from idpsync.store import schema as t
from tests.strategies import GROUP_NAMES
from tests.world import seeded

USER_IDS = [f"u{i}" for i in range(8)]
GROUP_IDS = [f"g{i}" for i in range(5)]
TENANT_LOGINS = ["ada", "Ada", "bob", "eve", "ｅｖｅ", "root", "carl", "dan", "fay"]


@dataclass
class Tenant:
    """An IdP's whole state."""

    users: dict[str, SourceUser] = field(default_factory=dict)
    groups: dict[str, SourceGroup] = field(default_factory=dict)
    edges: set[Membership] = field(default_factory=set)

    def snapshot(self) -> Snapshot:
        """A complete snapshot of the tenant (fresh lists: the runner may change them)."""
        return Snapshot(list(self.users.values()), list(self.groups.values()), sorted(self.edges))

    def exists(self, edge: Membership) -> bool:
        """Whether both ends of ``edge`` are in the tenant."""
        members = self.users if edge.member_kind is MemberKind.USER else self.groups
        return edge.group_id in self.groups and edge.member_id in members


@st.composite
def user_records(draw: st.DrawFn, uid: str, login: str | None = None) -> SourceUser:
    """A user record; ``login`` given keeps the login (other fields are drawn anew)."""
    login = login or draw(st.sampled_from(TENANT_LOGINS))
    email = draw(st.sampled_from([f"{login}@example.org", None, "shared@example.org"]))
    return SourceUser(
        uid,
        login,
        email=email,
        display_name=login.title(),
        active=draw(st.booleans()),
        manager_id=draw(st.none() | st.sampled_from(USER_IDS)),
        attributes={"kind": draw(st.sampled_from(["staff", "guest", ""]))},
    )


def group_record(draw: st.DrawFn, gid: str) -> SourceGroup:
    """A group record with a drawn name (names collide on purpose)."""
    return SourceGroup(gid, draw(GROUP_NAMES))


def _edges(draw: st.DrawFn, tenant: Tenant) -> set[Membership]:
    """Drawn user edges and nested group edges among the tenant's objects."""
    gids, uids = sorted(tenant.groups), sorted(tenant.users)
    if not gids:
        return set()
    edges: set[Membership] = set()
    if uids:
        pairs = draw(st.sets(st.tuples(st.sampled_from(gids), st.sampled_from(uids)), max_size=12))
        edges |= {Membership(g, u) for g, u in pairs}
    nested = draw(st.sets(st.tuples(st.sampled_from(gids), st.sampled_from(gids)), max_size=4))
    edges |= {Membership(g, c, MemberKind.GROUP) for g, c in nested if g != c}
    return edges


@st.composite
def tenants(draw: st.DrawFn) -> Tenant:
    """A whole tenant: a few users and groups, direct and nested edges."""
    tenant = Tenant()
    for uid in sorted(draw(st.sets(st.sampled_from(USER_IDS[:6]), min_size=2, max_size=6))):
        tenant.users[uid] = draw(user_records(uid))
    for gid in sorted(draw(st.sets(st.sampled_from(GROUP_IDS[:4]), max_size=4))):
        tenant.groups[gid] = group_record(draw, gid)
    tenant.edges = _edges(draw, tenant)
    return tenant


USER_STEPS = ["keep", "keep", "change", "rename", "disable", "remove", "recreate"]
GROUP_STEPS = ["keep", "keep", "rename", "remove"]


@st.composite
def changes(draw: st.DrawFn, before: Tenant, step: int) -> tuple[Tenant, DeltaResult]:
    """The next state of ``before`` and the delta an IdP reports for it."""
    after = Tenant(dict(before.users), dict(before.groups))
    delta = DeltaResult(state={"step": step})
    _change_users(draw, before, after, delta)
    _change_groups(draw, before, after, delta)
    kept = {e for e in before.edges if after.exists(e)}
    moved = {  # a recreated user keeps the old one's groups
        Membership(e.group_id, f"{e.member_id}r")
        for e in before.edges
        if e.member_kind is MemberKind.USER and f"{e.member_id}r" in after.users
    }
    gone = draw(st.sets(st.sampled_from(sorted(kept)), max_size=3)) if kept else set()
    after.edges = (kept - gone) | {e for e in moved if after.exists(e)} | _edges(draw, after)
    delta.added = sorted(after.edges - before.edges)
    implicit = draw(st.booleans())  # edges of removed objects go unsaid, or are listed
    for edge in sorted(before.edges - after.edges):
        if not implicit or edge in kept or draw(st.booleans()):
            delta.removed.append(edge)
    if draw(st.booleans()) and delta.added:  # an edge reported again
        delta.added.append(delta.added[0])
    if delta.removed_users and before.groups and draw(st.booleans()):  # an edge to a gone user
        group = draw(st.sampled_from(sorted(before.groups)))
        delta.added.append(Membership(group, draw(st.sampled_from(delta.removed_users))))
    return after, delta


def diff(before: Tenant, after: Tenant, step: int) -> DeltaResult:
    """The plain delta from ``before`` to ``after`` (what an IdP sends for several steps at once,
    from an older saved state)."""
    return DeltaResult(
        users=[u for k, u in after.users.items() if before.users.get(k) != u],
        groups=[g for k, g in after.groups.items() if before.groups.get(k) != g],
        added=sorted(after.edges - before.edges),
        removed=sorted(before.edges - after.edges),
        removed_users=sorted(before.users.keys() - after.users.keys()),
        removed_groups=sorted(before.groups.keys() - after.groups.keys()),
        state={"step": step},
    )


@dataclass
class History:
    """A tenant's first state and the steps after it (each the next state and its delta)."""

    start: Tenant
    steps: list[tuple[Tenant, DeltaResult]]


@st.composite
def histories(draw: st.DrawFn, max_steps: int = 3) -> History:
    """A first tenant and one to ``max_steps`` changes of it (an empty change lets grace
    periods run on); now and then a delta with upserts is partial (a page could not be read)."""
    history = History(draw(tenants()), [])
    current = history.start
    for step in range(1, draw(st.integers(1, max_steps)) + 1):
        current, delta = draw(changes(current, step))
        if (delta.users or delta.groups) and draw(st.integers(0, 4)) == 0:
            delta.complete, delta.incomplete_reasons = False, ["GET /groups/delta: 503"]
        history.steps.append((current, delta))
    return history


def catch_up(saved: Tenant, seen: Tenant, tenant: Tenant, step: int) -> DeltaResult:
    """The delta an IdP sends from an older saved state: everything that changed since
    ``saved``, including what it reported since (``seen``, through partial deltas) and has
    changed back or gone again."""
    delta, again = diff(saved, tenant, step), diff(seen, tenant, step)
    users = {u.source_id: u for u in (*delta.users, *again.users)}
    groups = {g.source_id: g for g in (*delta.groups, *again.groups)}
    delta.users, delta.groups = list(users.values()), list(groups.values())
    delta.added = sorted(set(delta.added) | set(again.added))
    delta.removed = sorted(set(delta.removed) | set(again.removed))
    delta.removed_users = sorted(set(delta.removed_users) | set(again.removed_users))
    delta.removed_groups = sorted(set(delta.removed_groups) | set(again.removed_groups))
    return delta


def absorb(seen: Tenant, delta: DeltaResult) -> Tenant:
    """``seen`` with a partial delta's upserts and added edges."""
    return Tenant(
        {**seen.users, **{u.source_id: u for u in delta.users}},
        {**seen.groups, **{g.source_id: g for g in delta.groups}},
        seen.edges | set(delta.added),
    )


def upserts(delta: DeltaResult) -> Tenant:
    """The delta's upserts and added edges as a tenant (what a partial read brought back)."""
    return Tenant(
        {u.source_id: u for u in delta.users},
        {g.source_id: g for g in delta.groups},
        set(delta.added),
    )


def _change_users(draw: st.DrawFn, before: Tenant, after: Tenant, delta: DeltaResult) -> None:
    for uid, user in sorted(before.users.items()):
        step = draw(st.sampled_from(USER_STEPS))
        if step == "keep":
            if draw(st.integers(0, 4)) == 0:  # upserted again unchanged
                delta.users.append(user)
            continue
        if step in ("remove", "recreate"):
            del after.users[uid]
            delta.removed_users.append(uid)
            if step == "recreate" and f"{uid}r" not in before.users:
                again = replace(user, source_id=f"{uid}r", active=True)
                after.users[again.source_id] = again
                delta.users.append(again)
            continue
        if step == "disable":
            changed = replace(user, active=False)
        else:  # a new login (and e-mail address), or the same with other attributes
            changed = draw(user_records(uid, None if step == "rename" else user.login))
        after.users[uid] = changed
        delta.users.append(changed)
    unused = [uid for uid in USER_IDS if uid not in before.users and uid not in after.users]
    for uid in sorted(draw(st.sets(st.sampled_from(unused), max_size=2))) if unused else []:
        after.users[uid] = draw(user_records(uid))
        delta.users.append(after.users[uid])
    if draw(st.integers(0, 5)) == 0:
        delta.removed_users.append("nobody")


def _change_groups(draw: st.DrawFn, before: Tenant, after: Tenant, delta: DeltaResult) -> None:
    for gid, group in sorted(before.groups.items()):
        step = draw(st.sampled_from(GROUP_STEPS))
        if step == "remove":
            del after.groups[gid]
            delta.removed_groups.append(gid)
        elif step == "rename":
            after.groups[gid] = replace(group, name=draw(GROUP_NAMES))
            delta.groups.append(after.groups[gid])
    unused = [gid for gid in GROUP_IDS if gid not in before.groups]
    for gid in sorted(draw(st.sets(st.sampled_from(unused), max_size=2))) if unused else []:
        after.groups[gid] = group_record(draw, gid)
        delta.groups.append(after.groups[gid])


class TenantSource(Source):
    """A source reading a :class:`Tenant` whole, or (given ``delta``) only its last change.

    ``wants_full`` is false exactly when a delta is given, so ``mode="auto"`` takes the
    incremental path for it; a full read saves a state, so the next run may be incremental.
    """

    type = "file"

    def __init__(
        self,
        tenant: Tenant,
        delta: DeltaResult | None = None,
        step: int = 0,
        *,
        incomplete: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.tenant, self.change, self.step = tenant, delta, step
        self.incomplete = incomplete or []
        """Reasons to mark a full read incomplete (none: it is complete)."""

    def wants_full(self, state: dict[str, Any]) -> bool:
        """Full unless a delta was given."""
        return self.change is None

    async def delta(
        self, state: dict[str, Any], staged: Snapshot, progress: Progress = no_progress
    ) -> DeltaResult | None:
        """The given delta."""
        return self.change

    async def snapshot(self, progress: Progress = no_progress) -> Snapshot:
        """The whole tenant (marked incomplete if asked); a complete read saves a state."""
        snap = self.tenant.snapshot()
        for reason in self.incomplete:
            snap.mark_incomplete(reason)
        self.saved_state = None if self.incomplete else {"step": self.step}
        return snap


def settings_for(policy: dict[str, Any], guard: dict[str, Any] | None = None) -> ConnectorSettings:
    """Connector settings with ``policy`` (the file path is never read)."""
    return ConnectorSettings.model_validate(
        {"source": {"type": "file", "path": "unused.json"}, "policy": policy, "guard": guard or {}}
    )


def sync(
    store: Store, settings: ConnectorSettings, source: TenantSource, **kwargs: Any
) -> RunResult:
    """One run of connector ``hr`` through ``run_sync``; an incremental one must stay one."""
    result = asyncio.run(run_sync(store, "hr", settings, source, **kwargs))
    if source.change is not None and result.status != "failed":
        assert result.stats.get("read") == "delta" or result.status in ("guarded", "dry_run")
    return result


@functools.cache
def _template() -> tuple[tempfile.TemporaryDirectory[str], Path]:
    """A seeded SQLite store made once per test process (its folder lives as long)."""
    folder = tempfile.TemporaryDirectory()
    store, _ = seeded(Path(folder.name))
    store.close()
    return folder, Path(folder.name) / "d.db"


def seeded_copy(folder: Path) -> Store:
    """A copy in ``folder`` of a store seeded by :func:`tests.world.seeded` (copied, because
    creating the schema takes longer than the runs a property makes)."""
    target = folder / "d.db"
    with sqlite3.connect(_template()[1]) as source, sqlite3.connect(target) as copy:
        source.backup(copy)
    source.close()
    copy.close()
    return Store.open(f"sqlite:///{target}")


def _ids(conn: sa.Connection) -> dict[tuple[str, int], tuple[str | None, str]]:
    """``(kind, row id)`` → ``(connector, source id)`` for every user and group."""
    ids: dict[tuple[str, int], tuple[str | None, str]] = {}
    for kind, table in (("user", t.users), ("group", t.groups)):
        for row in conn.execute(sa.select(table.c.id, table.c.connector, table.c.source_id)):
            ids[kind, row.id] = (row.connector, row.source_id)
    return ids


def directory(store: Store) -> dict[str, list[Any]]:
    """Every directory row and the ``hr`` stage, keyed by source ids, timestamps as set/unset."""
    skip = {"id", "created_at", "updated_at"}
    stamps = {"deactivated_at", "missing_since"}
    result: dict[str, list[Any]] = {}
    with store.engine.connect() as conn:
        ids = _ids(conn)
        for table in (t.users, t.groups):
            rows = conn.execute(sa.select(table)).mappings()
            result[table.name] = sorted(
                repr(
                    {
                        k: (v is not None if k in stamps else v)
                        for k, v in r.items()
                        if k not in skip
                    }
                )
                for r in rows
            )
        m = t.memberships.c
        edges = conn.execute(sa.select(m.connector, m.group_id, m.member_kind, m.member_id))
        result["memberships"] = sorted(
            repr(
                (
                    e.connector,
                    ids["group", e.group_id],
                    e.member_kind,
                    ids[e.member_kind, e.member_id],
                )
            )
            for e in edges
        )
        for table in (t.source_users, t.source_groups):
            data = conn.execute(sa.select(table.c.data).where(table.c.connector == "hr"))
            result[table.name] = sorted(json.dumps(r.data, sort_keys=True) for r in data)
        s = t.source_memberships.c
        staged = conn.execute(
            sa.select(s.group_id, s.member_kind, s.member_id).where(s.connector == "hr")
        )
        result["source_memberships"] = sorted(repr(tuple(r)) for r in staged)
    return result


def change_log(store: Store, run_id: int) -> list[tuple[Any, ...]]:
    """The run's change-log rows (op, object type, source id, key, before, after, reason)."""
    c = t.changes.c
    cols = (c.op, c.object_type, c.source_id, c.object_key, c.before, c.after, c.reason)
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(*cols).where(c.run_id == run_id))
        return sorted(
            (
                tuple(json.dumps(v, sort_keys=True) if isinstance(v, dict) else v for v in r)
                for r in rows
            ),
            key=repr,
        )
