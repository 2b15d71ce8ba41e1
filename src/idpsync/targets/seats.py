"""A target's seat budget: never more active users than ``max_active_users``, the rest held.

Licensed targets (Jira/Confluence Data Center behind Crowd, Atlassian Cloud) charge per active
user, and a server past its licence does not always refuse: Crowd's application API accepts
the user, who then cannot log in (bitwarden/directory-connector #28). So delivery counts.

- **Used seats** are the users idpsync holds active in the target: its object map
  (``target_objects.active``; not known counts as active), counted once per delivery and kept
  up to date as users are created, reactivated and deactivated.
- A **creation or reactivation** of an active user takes a seat. The user is **held**
  (``target_held``: who, which change, why) when no seat is left, when others are already
  waiting, or when the delivery has more of them pending than seats are free (then every one
  waits, so the priority decides among all of them, not the log's order). A held user's
  updates and memberships wait with them (they are delivered from the directory's state on
  release); deactivations, updates and membership changes of other users go on.
- **Release**: after each delivery the held users whose turn it is are delivered, while seats
  are free (a deactivation freed one, or ``max_active_users`` was raised or removed), in
  ``seat_priority`` order (members of ``group:NAME`` first, in the order listed), then by the
  change that held them. Nobody is ever deactivated to make room.
- A held user who is deactivated or deleted in the directory leaves the queue (no seat needed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from idpsync.config import TargetOptions, TargetSettings
from idpsync.model import DirectoryState
from idpsync.store import schema as t
from idpsync.store.store import Store, now

Key = tuple[str, str]
"""A user: (connector, source id)."""


@dataclass(frozen=True, slots=True)
class HeldUser:
    """A user waiting for a seat."""

    connector: str
    """The owning connector."""
    source_id: str
    """The directory user's source id."""
    login: str
    """The user's login when held (for the queue's display)."""
    seq: int
    """The change that held them (creation order)."""
    op: str
    """That change's operation (``user.create``, ``user.reactivate``…)."""
    reason: str
    """Why they wait."""


def seat_order(
    held: Iterable[HeldUser], priority: Sequence[str], groups_of: Callable[[HeldUser], set[str]]
) -> list[HeldUser]:
    """The held users in release order.

    First by the first ``group:NAME`` of ``priority`` they are a member of (group names ignore
    case; those in none come last), then by the change that held them.
    """
    wanted = [p.partition(":")[2].casefold() for p in priority]

    def rank(user: HeldUser) -> tuple[int, int, str, str]:
        names = {g.casefold() for g in groups_of(user)}
        first = next((i for i, g in enumerate(wanted) if g in names), len(wanted))
        return first, user.seq, user.connector, user.source_id

    return sorted(held, key=rank)


class SeatBudget:
    """One delivery's view of a target's seats and held queue (writes nothing in dry-run)."""

    def __init__(
        self, store: Store, target: str, options: TargetOptions, *, dry_run: bool = False
    ) -> None:
        self.store = store
        self.target = target
        self.limit = options.max_active_users
        """``max_active_users`` (``None``: no budget)."""
        self.priority = options.seat_priority
        self.dry_run = dry_run
        self._used: int | None = None
        self._held: dict[Key, HeldUser] | None = None
        self._granted: set[Key] = set()
        self.contended = False
        """More activations are pending than seats are free: every one waits for the release,
        so ``seat_priority`` decides among all of them (set by :meth:`contend`)."""

    # -- counting ---------------------------------------------------------------------------

    @property
    def used(self) -> int:
        """Active users idpsync holds in the target (counted once, then kept up to date)."""
        if self._used is None:
            self._used = count_active(self.store, self.target)
        return self._used

    def recount(self) -> None:
        """Count the used seats from the store again (before releasing held users)."""
        self._used = None

    def free(self) -> int | None:
        """Seats left (``None`` without a budget)."""
        return None if self.limit is None else max(0, self.limit - self.used)

    def changed(self, was_active: bool | None, active: bool) -> None:
        """A user's active state in the target went from ``was_active`` to ``active``."""
        if self._used is None:
            return  # counted from the store when first needed, this change included
        before = was_active is not False
        self._used += int(active) - int(before)

    def created(self, active: bool) -> None:
        """A user was created (or adopted) in the target."""
        if self._used is not None and active:
            self._used += 1

    # -- the queue --------------------------------------------------------------------------

    def held(self) -> dict[Key, HeldUser]:
        """The held users (read once per delivery)."""
        if self._held is None:
            self._held = {
                (h.connector, h.source_id): h for h in held_users(self.store, self.target)
            }
        return self._held

    def admit(self, key: Key, fields: dict[str, Any], seq: int, op: str) -> bool:
        """Whether this user may be made active now; if not, hold them (and record why).

        An inactive user needs no seat (and leaves the queue). A user already held, or one who
        would jump the queue, or one past the budget is held.
        """
        if key in self._granted:
            self._granted.discard(key)
            return True
        if not fields.get("active", True) or self.limit is None:
            self.drop(key)
            return True
        queue = self.held()
        if key not in queue and not queue and not self.contended and self.used < self.limit:
            return True
        if key not in queue:
            reason = (
                f"no seat left: {self.used} of {self.limit} active users (max_active_users)"
                if self.used >= self.limit
                else f"more users to activate than the {self.limit - self.used} free seats "
                f"of {self.limit} (max_active_users): seat_priority decides"
                if self.contended
                else f"waiting behind {len(queue)} held users for a seat"
            )
            user = HeldUser(key[0], key[1], str(fields.get("login") or key[1]), seq, op, reason)
            queue[key] = user
            if not self.dry_run:
                _insert(self.store, self.target, user)
        return False

    def drop(self, key: Key) -> None:
        """Take a user off the queue (released, deactivated or gone)."""
        queue = self.held()
        if queue.pop(key, None) is not None and not self.dry_run:
            h = t.target_held.c
            with self.store.transaction() as conn:
                conn.execute(
                    t.target_held.delete().where(
                        h.target == self.target, h.connector == key[0], h.source_id == key[1]
                    )
                )

    def contend(self, pending: int) -> None:
        """Before a delivery: ``pending`` creations and reactivations are in the change log.

        When they outnumber the free seats, all of them wait for the release at the end of the
        delivery, which gives the seats in priority order (not in the log's order).
        """
        free = self.free()
        self.contended = free is not None and pending > free

    def grant(self, key: Key) -> None:
        """Release a held user: off the queue, and the next :meth:`admit` of them passes."""
        self.drop(key)
        self._granted.add(key)

    def next_up(self, groups_of: Callable[[HeldUser], set[str]]) -> list[HeldUser]:
        """The held users to release now, in order (as many as there are free seats)."""
        ordered = seat_order(self.held().values(), self.priority, groups_of)
        free = self.free()
        return ordered if free is None else ordered[:free]


def group_names_by_user(directory: DirectoryState) -> dict[str, set[str]]:
    """``{user source id: names of the groups they are a direct member of}``."""
    names: dict[str, set[str]] = {}
    for m in directory.memberships:
        group = directory.groups.get(m.group_id)
        if m.member_kind.value == "user" and group is not None:
            names.setdefault(m.member_id, set()).add(group.name)
    return names


def seat_status(store: Store, target: str, settings: TargetSettings) -> dict[str, Any]:
    """The seat part of a target's status (CLI, API, pages).

    The budget, the seats used and the held queue (who, which change, why) by the change that
    held each user.
    """
    return {
        "max_active_users": settings.options.max_active_users,
        "active_users": count_active(store, target),
        "held": [
            {
                "connector": h.connector,
                "source_id": h.source_id,
                "login": h.login,
                "seq": h.seq,
                "op": h.op,
                "reason": h.reason,
            }
            for h in held_users(store, target)
        ],
    }


def pending_activations(store: Store, after: int, connectors: Sequence[str]) -> int:
    """Creations and reactivations of users in the change log after ``after``."""
    c = t.changes.c
    query = sa.select(sa.func.count()).where(
        c.seq > after, c.op.in_(("user.create", "user.reactivate"))
    )
    if connectors:
        query = query.where(c.connector.in_(list(connectors)))
    with store.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def count_active(store: Store, target: str) -> int:
    """Users of the target's object map that are active (or not known to be inactive)."""
    o = t.target_objects.c
    query = sa.select(sa.func.count()).where(
        o.target == target, o.object_type == "user", sa.or_(o.active.is_(None), o.active)
    )
    with store.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def held_users(store: Store, target: str) -> list[HeldUser]:
    """The target's held queue as stored, by the change that held each user."""
    h = t.target_held.c
    query = sa.select(t.target_held).where(h.target == target).order_by(h.seq, h.source_id)
    with store.engine.connect() as conn:
        return [
            HeldUser(r.connector, r.source_id, r.login, int(r.seq), r.op, r.reason)
            for r in conn.execute(query)
        ]


def _insert(store: Store, target: str, user: HeldUser) -> None:
    with store.transaction() as conn:
        conn.execute(
            t.target_held.insert().values(
                target=target,
                connector=user.connector,
                source_id=user.source_id,
                login=user.login[:320],
                seq=user.seq,
                op=user.op,
                reason=user.reason,
                held_at=now(),
            )
        )
