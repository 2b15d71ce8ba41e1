"""Incremental planning: a change planned against the objects it touches, not the tenant.

A full plan maps every staged user, builds the desired state of all and diffs every edge. After
a complete delta, or a complete full read whose staging changed little (the stage reports what
it changed: :class:`~idpsync.store.stage.StageChange`, the same as a delta says: the users and
groups whose record is new, changed or gone, the edges added and removed), the runner plans
only the users the change can have changed the decision for,
with every group (groups are few, and a group's change reaches all its members): everything else
in the directory is known to be as the full plan would leave it, so it is neither loaded nor
mapped. That holds because the last run that changed the directory was a complete, succeeded
sync under the same policy (:func:`basis` checks it): it left every object it did not leave
out exactly as the plan of its stage wanted, and a user's decision depends only on

- the user's own staged record (the delta's upserts and removals),
- with ``required_groups``, its staged edges (the users of the delta's added and removed
  edges: an edge can move its member in or out of scope); without, an edge of a user not
  planned otherwise is decided on its own (:mod:`idpsync.app.incremental_edges`),
- the groups it is in when one of them changes its record or is removed (a group left out
  before, dropped or skipped, that stays left out changes nothing for its members),
- collisions: the owned users whose login or e-mail skeleton is one of the user's (read by key
  until no new one turns up),
- its own row's state: left out by the last run (skipped, collided, out of scope, waiting,
  kept inactive), gone from the stage, tracked as missing, or deactivated locally.

Those users are planned with the usual :func:`~idpsync.app.deciding.decide_in_store`, their
directory rows loaded by id, and the membership diff restricted to their edges and the group
edges (:class:`~idpsync.store.edge_diff.StoreEdges` with ``users``), plus the delta's other
user edges one by one. Where restriction is not
safe the plan is full, and the run's stats say why (``planned``: ``incremental (N users, M more
edges)`` or ``full (reason)``): an incomplete read, an earlier run that was partial or not a
sync, a policy changed since, a required group changed, nested edges changed under transitive
scoping, a full read that changed more than the stage lists (``StageChange.large``), a change
that touches a large share of the users, collision keys that do not settle, or a group whose
outcome changed without its record changing. The guards see the whole stage's counts.
``tests/test_incremental_properties.py`` holds the result equal to a full run's.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import dataclass, field
from itertools import chain

from sqlalchemy.engine import Connection

import idpsync
from idpsync.app.deciding import decide_in_store, read_marks
from idpsync.app.incremental_edges import LooseEdges
from idpsync.config import ConnectorSettings
from idpsync.engine.cleanup import Missing
from idpsync.engine.decide import Decision
from idpsync.engine.policy import evaluate
from idpsync.engine.skeleton import collision_key
from idpsync.model import DirectoryState, MemberKind, Snapshot, SourceGroup
from idpsync.sources.registry import preset
from idpsync.store import affected
from idpsync.store.edge_diff import StoreEdges
from idpsync.store.stage import (
    DeltaSnapshot,
    StageChange,
    is_mirror,
    load_edges,
    load_stage,
    staged_counts,
)
from idpsync.store.store import Store

ENABLED = True
"""Whether a delta may be planned incrementally at all (``benchmarks.engine --full-plan``
turns it off, to compare with the full plan)."""

MAX_SHARE = 0.5
"""Above this share of the staged users touched, the full plan is planned (and cheaper)."""

KEY_ROUNDS = 5
"""Rounds of collision-key reads before the plan gives up and is full."""


def digest(settings: ConnectorSettings) -> str:
    """What the plan's decisions depend on besides the data: policy, source type, version."""
    text = json.dumps(
        [settings.policy.model_dump(mode="json"), settings.source.type, idpsync.__version__],
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Basis:
    """What the runner learns before staging a delta: whether it may be planned incrementally."""

    reason: str = ""
    """Why the plan is full (empty: it may be incremental)."""
    previous: int = 0
    """The last run that changed the directory (its left-out objects are planned again)."""
    left_out: int = 0
    """How many objects that run recorded as left out."""
    groups: set[str] = field(default_factory=set)
    """Groups whose staged record the delta creates, changes or removes."""
    required: set[str] = field(default_factory=set)
    """A full read's: groups named by ``required_groups`` (by id or name) before or after it."""


@dataclass
class Planned:
    """A run's decision with what it was decided from."""

    decision: Decision
    staged: Snapshot
    """The stage as planned: whole, or only the touched users (with every group)."""
    users: int
    """Staged users in all (for the guards and the run's stats)."""
    groups: int
    note: str
    """``incremental (N users, M more edges)`` or ``full (reason)``."""
    rows: affected.Rows | None = None
    """Directory rows the plan read by source id (an incremental plan's), for apply."""


def basis(
    conn: Connection, name: str, settings: ConnectorSettings, snap: Snapshot, run_id: int
) -> Basis:
    """Before staging run ``run_id``: whether it may be planned incrementally (module doc).

    A full read's changes are known only once staged: :func:`decide_run` checks them.
    """
    if not snap.complete:
        return Basis("not a complete read")
    if not ENABLED:
        return Basis("incremental planning is turned off")
    last = affected.last_applied_run(conn, name, run_id)
    if last is None:
        return Basis("no earlier run changed the directory")
    stats = last.stats or {}
    if last.mode not in ("full", "incremental"):
        return Basis(f"the last change to the directory was a {last.mode} run")
    if last.status != "succeeded" or not last.complete:
        return Basis(f"the last run was {last.status}, not a complete read")
    if stats.get("policy_digest") != digest(settings):
        return Basis("the policy (or idpsync) changed since the last run")
    previous, left_out = int(last.id), int(stats.get("left_out", -1))
    if not isinstance(snap, DeltaSnapshot):
        return Basis("", previous, left_out, required=_required(conn, name, settings, snap))
    groups = _changed_groups(conn, name, snap)
    policy = settings.policy
    if policy.required_groups:
        wanted = set(policy.required_groups) | {_fold(n) for n in policy.required_groups}
        if any(gid in wanted or names & wanted for gid, names in groups.items()):
            return Basis("a required group changed")
        nested = chain(snap.memberships, snap.removed)
        if policy.transitive and (
            snap.removed_groups or any(e.member_kind is MemberKind.GROUP for e in nested)
        ):
            return Basis("nested groups changed under transitive scoping")
    return Basis("", previous, left_out, set(groups))


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _required(conn: Connection, name: str, settings: ConnectorSettings, snap: Snapshot) -> set[str]:
    """Groups staged or read whose id or name one of ``required_groups`` names."""
    names = settings.policy.required_groups
    if not names:
        return set()
    wanted = set(names) | {_fold(n) for n in names}
    groups = chain(affected.staged_groups(conn, name), snap.groups)
    return {g.source_id for g in groups if g.source_id in wanted or _fold(g.name) in wanted}


def _mirror_change(
    ground: Basis, settings: ConnectorSettings, snap: Snapshot, change: StageChange | None
) -> str:
    """Why a full read's staged change cannot be planned incrementally ("": it can).

    The checks :func:`basis` makes of a delta before staging, made of what staging changed.
    """
    if change is None:
        return "the read was not staged as a whole"
    if change.large:
        return f"a large change ({change.large})"
    if change.groups & ground.required:
        return "a required group changed"
    policy = settings.policy
    if policy.required_groups and policy.transitive:
        gone = change.groups - {g.source_id for g in snap.groups}
        nested = chain(change.added, change.removed)
        if gone or any(e.member_kind is MemberKind.GROUP for e in nested):
            return "nested groups changed under transitive scoping"
    ground.groups = set(change.groups)
    return ""


def _delta_change(snap: DeltaSnapshot) -> StageChange:
    """A delta's changes, as staging a full read reports them (groups: :attr:`Basis.groups`)."""
    users = {u.source_id for u in snap.users} | set(snap.removed_users)
    return StageChange(users, set(), list(snap.memberships), list(snap.removed))


def _changed_groups(conn: Connection, name: str, snap: DeltaSnapshot) -> dict[str, set[str]]:
    """Groups the delta creates, changes or removes, with their names (old and new) folded.

    A delta repeats records that did not change (an IdP reports a group whose members
    changed); those are not changes of the group.
    """
    ids = {g.source_id for g in snap.groups} | set(snap.removed_groups)
    before = affected.staged_data(conn, name, ids, groups=True)
    found: dict[str, set[str]] = {}
    for group in snap.groups:
        old = before.get(group.source_id)
        if old is None or SourceGroup(**old) != group:
            names = found.setdefault(group.source_id, set())
            names.add(_fold(group.name))
            if old is not None:
                names.add(_fold(str(old.get("name", ""))))
    for gid in snap.removed_groups:
        if gid in before:
            found.setdefault(gid, set()).add(_fold(str(before[gid].get("name", ""))))
    return found


def decide_run(
    conn: Connection,
    store: Store,
    name: str,
    settings: ConnectorSettings,
    snap: Snapshot,
    ground: Basis,
    staged_change: StageChange | None = None,
) -> Planned:
    """After staging: the run's decision, incremental where :func:`basis` allows it.

    ``staged_change``: what staging a full read changed (``Store.write_stage``'s answer).
    """
    reason = ground.reason
    change = staged_change
    if not reason:
        if isinstance(snap, DeltaSnapshot):
            change = _delta_change(snap)
        else:
            reason = _mirror_change(ground, settings, snap, change)
    if not reason and change is not None:
        planned, reason = _incremental(conn, store, name, settings, snap, ground, change)
        if planned is not None:
            return planned
    staged = snap if is_mirror(snap) else load_stage(conn, name, lambda: load_edges(conn, name))
    staged.complete, staged.skipped = snap.complete, snap.skipped
    decision = decide_in_store(conn, store, name, settings, staged, in_store=True)
    return Planned(decision, staged, len(staged.users), len(staged.groups), f"full ({reason})")


def _incremental(
    conn: Connection,
    store: Store,
    name: str,
    settings: ConnectorSettings,
    snap: Snapshot,
    ground: Basis,
    change: StageChange,
) -> tuple[Planned | None, str]:
    scoped = bool(settings.policy.required_groups)
    marked = read_marks(conn, name)  # read once: by the touched users and by the decision
    users, groups = _touched(conn, name, change, snap, ground, marked, scoped=scoped)
    if users is None:
        return None, "the last run's left-out objects are not all recorded"
    total_users, total_groups = staged_counts(conn, name)
    if len(users) > MAX_SHARE * max(total_users, 1):
        return None, f"the change touches {len(users)} of {total_users} users"
    if affected.without_skeleton(conn, name):
        return None, "some users have no stored collision skeleton"
    found = _with_collisions(conn, store, name, settings, users)
    if found is None:
        return None, "collision keys did not settle"
    staged, current = found
    staged.complete, staged.skipped = snap.complete, snap.skipped
    edges, rows = _edges(conn, name, change, frozenset(users))
    decision = decide_in_store(
        conn, store, name, settings, staged, current=current, in_store=True, edges=edges,
        marked=marked,
    )  # fmt: skip
    result = decision.policy
    if not groups.settled(result.held_groups | result.dropped_groups.keys()):
        return None, "a group's outcome changed without a change to its record"
    edges.named(decision, current)
    note = f"incremental ({len(users)} users, {len(edges.edges)} more edges)"
    return Planned(decision, staged, total_users, total_groups, note, rows), ""


def _edges(
    conn: Connection, name: str, change: StageChange, users: frozenset[str]
) -> tuple[LooseEdges, affected.Rows]:
    """The edge planner: the planned users' edges in the store, the change's other user edges.

    With it the directory rows read for the loose edges (their users, groups and held edges).
    """
    loose = [
        e
        for e in chain(change.added, change.removed)
        if e.member_kind is MemberKind.USER and e.member_id not in users
    ]
    staged = set(change.added) - set(change.removed)  # as the stage applied the delta
    rows, logins = affected.user_edges(conn, name, {(e.group_id, e.member_id) for e in loose})
    restricted = StoreEdges(conn, name, users)
    held = rows.memberships.keys()
    return LooseEdges(restricted, loose, [e for e in loose if e in staged], held, logins), rows


def _touched(
    conn: Connection,
    name: str,
    change: StageChange,
    snap: Snapshot,
    ground: Basis,
    marked: tuple[dict[str, Missing], set[str]],
    *,
    scoped: bool,
) -> tuple[set[str] | None, _Groups]:
    """The users whose decision the change can change, and the groups (see :class:`_Groups`)."""
    users = set(change.users)
    if scoped:  # an edge can move its member in or out of scope
        users.update(
            e.member_id
            for e in chain(change.added, change.removed)
            if e.member_kind is MemberKind.USER
        )
    users.update(r.source_id for r in snap.skipped if r.kind == "user")
    left_users, left_groups, rows = affected.left_out_of(conn, ground.previous)
    if rows != ground.left_out:
        return None, _Groups(set(), set())
    users |= left_users | marked[1] | marked[0].keys()
    users |= affected.unstaged(conn, name)
    groups = ground.groups | affected.unstaged(conn, name, groups=True)
    groups.update(r.source_id for r in snap.skipped if r.kind == "group")
    users |= affected.user_members(conn, name, groups)
    return users, _Groups(groups, left_groups)


@dataclass
class _Groups:
    """The groups an incremental plan reads the members of, and those left out before."""

    changed: set[str]
    """Created, changed, removed or skipped by the delta, or gone: every member is planned."""
    left_out: set[str]
    """Left out by the last run (dropped, skipped): as long as they stay left out, their
    members' edges stay as they are (a group dropped by the rules every run, "All users",
    costs nothing)."""

    def settled(self, now_out: set[str]) -> bool:
        """Whether the groups left out now are those the plan allows for (see ``_incremental``).

        A group left out now must have been left out before or be changed; a group left out
        before and no longer must be changed (its members were planned).
        """
        return now_out <= self.changed | self.left_out and self.left_out - now_out <= self.changed


def _with_collisions(
    conn: Connection,
    store: Store,
    name: str,
    settings: ConnectorSettings,
    users: set[str],
) -> tuple[Snapshot, DirectoryState] | None:
    """Adds to ``users`` every owned user one of their logins or e-mails collides with.

    Returns their staged records (with every staged group) and their directory rows. The keys
    of a user are its mapped login and e-mail and its directory ones; owned users holding one
    of them are added, until none is new (``None``: still new ones after :data:`KEY_ROUNDS`).
    """
    edges = StoreEdges(conn, name)
    mapping = preset(settings.source.type)
    staged = Snapshot([], affected.staged_groups(conn, name))
    current = DirectoryState()
    todo = set(users)
    for _ in range(KEY_ROUNDS):
        found = store.load_directory(conn, name, memberships=False, users=todo)
        current.users.update(found.users)
        current.groups = found.groups
        part = Snapshot(affected.staged_users(conn, name, todo), staged.groups)
        staged.users.extend(part.users)
        desired = evaluate(part, settings.policy, mapping, connector=name, edges=edges).desired
        logins, emails = set(), set()
        for user in chain(desired.users.values(), found.users.values()):
            logins.add(collision_key(user.login))
            if user.email:
                emails.add(collision_key(user.email))
        todo = affected.owned_by_key(conn, name, logins, emails) - users
        if not todo:
            return staged, current
        users |= todo
    return None
