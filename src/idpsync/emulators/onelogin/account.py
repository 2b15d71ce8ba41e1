"""A OneLogin account as the emulator holds it: users, groups, roles, a clock, a generator.

OneLogin's shape differs from the generic tenant: integer ids, a user is in **at most one
group** (``group_id``), roles are many-to-many (``role_ids`` on the user), ``status`` and
``state`` are integer codes, and every change moves the user's ``updated_at`` (which drives
``updated_since``). Deleted users are gone (no soft-delete listing).

Nothing here knows about HTTP.
"""

from __future__ import annotations

import bisect
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

STATUS_NAMES = {
    0: "Unactivated",
    1: "Active",
    2: "Suspended",
    3: "Locked",
    4: "Password expired",
    5: "Awaiting password reset",
    7: "Password pending",
    8: "Security questions required",
}
"""OneLogin's integer ``status`` codes (there is no 6)."""
STATE_NAMES = {0: "Unapproved", 1: "Approved", 2: "Rejected", 3: "Unlicensed"}
"""OneLogin's integer ``state`` codes."""

FIRST = ("Anna", "Ben", "Chloé", "Dmitri", "Fatima", "Jürgen", "Lucía", "Mei", "Søren", "Zoë")
LAST = ("Smith", "Müller", "O'Brien", "Nguyen", "Ångström", "Rossi", "Tanaka", "de la Cruz")
DEPARTMENTS = ("Engineering", "Sales", "Finance", "HR", "Support")


def iso(epoch: float) -> str:
    """OneLogin's timestamp format: ``2024-05-01T12:00:00.000Z``."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(value: str) -> float:
    """Epoch seconds of an ISO 8601 time (``Z`` or an offset; date only means midnight UTC)."""
    text = value.strip().replace("Z", "+00:00")
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@dataclass(slots=True)
class OneLoginUser:
    """A user with the attributes the v1 and v2 APIs show."""

    id: int
    """Immutable integer id."""
    username: str
    """Login name."""
    email: str | None
    """E-mail address."""
    firstname: str | None = None
    """First name."""
    lastname: str | None = None
    """Last name."""
    title: str | None = None
    """Job title."""
    department: str | None = None
    """Department."""
    company: str | None = None
    """Company."""
    phone: str | None = None
    """E.164 phone number."""
    group_id: int | None = None
    """The one group the user is in, if any."""
    role_ids: list[int] = field(default_factory=list)
    """Roles assigned to the user."""
    status: int = 1
    """Integer status code (:data:`STATUS_NAMES`)."""
    state: int = 1
    """Integer state code (:data:`STATE_NAMES`)."""
    manager_user_id: int | None = None
    """Id of the user's manager."""
    external_id: str | None = None
    """Id in an external directory."""
    created_at: str = "2024-01-01T00:00:00.000Z"
    """Creation time."""
    updated_at: str = "2024-01-01T00:00:00.000Z"
    """Last change (moved by every control call that touches the user)."""
    custom_attributes: dict[str, str | None] = field(default_factory=dict)
    """Account-defined attributes."""


@dataclass(slots=True)
class OneLoginGroup:
    """A group (v1 only): id, name and the deprecated ``reference``."""

    id: int
    name: str
    reference: str | None = None


@dataclass(slots=True)
class OneLoginRole:
    """A role; its users are the users whose ``role_ids`` name it."""

    id: int
    name: str


@dataclass(frozen=True, slots=True)
class AccountTruth:
    """A frozen copy of the account for assertions."""

    users: dict[int, OneLoginUser]
    groups: dict[int, OneLoginGroup]
    roles: dict[int, OneLoginRole]

    def group_members(self) -> frozenset[tuple[int, int]]:
        """``(group_id, user_id)`` for every user in a group."""
        return frozenset((u.group_id, u.id) for u in self.users.values() if u.group_id)

    def role_members(self) -> frozenset[tuple[int, int]]:
        """``(role_id, user_id)`` for every role assignment."""
        return frozenset((r, u.id) for u in self.users.values() for r in u.role_ids)


class AccountError(KeyError):
    """A control call named a user, group or role that does not exist."""


class Account:
    """Users, groups and roles of one OneLogin account, with control methods for tests."""

    def __init__(
        self, account_id: int, subdomain: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.account_id = account_id
        self.subdomain = subdomain
        self.clock = clock
        self.users: dict[int, OneLoginUser] = {}
        self.groups: dict[int, OneLoginGroup] = {}
        self.roles: dict[int, OneLoginRole] = {}
        self.user_ids: list[int] = []
        self.v2_role_ids = True
        """Whether v2 user records carry ``role_ids`` (``False`` mimics answers without it)."""
        self._next_id = 90_000_001

    def now(self) -> str:
        """The account clock as a OneLogin timestamp."""
        return iso(self.clock())

    def truth(self) -> AccountTruth:
        """A frozen copy of everything."""
        return AccountTruth(
            {i: replace(u, role_ids=list(u.role_ids)) for i, u in self.users.items()},
            {i: replace(g) for i, g in self.groups.items()},
            {i: replace(r) for i, r in self.roles.items()},
        )

    def find_user(self, key: str) -> OneLoginUser | None:
        """A user by id."""
        return self.users.get(int(key)) if key.isdigit() else None

    def role_users(self, role_id: int) -> list[OneLoginUser]:
        """Users holding a role, by id."""
        return [self.users[i] for i in self.user_ids if role_id in self.users[i].role_ids]

    # ---- control API ---------------------------------------------------------------------

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _user(self, user_id: int) -> OneLoginUser:
        if user_id not in self.users:
            raise AccountError(f"no user {user_id} in account {self.account_id}")
        return self.users[user_id]

    def add_user(self, username: str, email: str | None = None, **fields: object) -> OneLoginUser:
        """Create a user (``fields`` as in :class:`OneLoginUser`); returns it with its new id."""
        stamp = self.now()
        user = OneLoginUser(self._new_id(), username, email, created_at=stamp, updated_at=stamp)
        for name, value in fields.items():
            setattr(user, name, value)
        self.users[user.id] = user
        bisect.insort(self.user_ids, user.id)
        return user

    def update_user(self, user_id: int, **fields: object) -> OneLoginUser:
        """Change attributes (``status=2``, ``group_id=…``, ``role_ids=[…]``…); moves updated_at."""
        user = self._user(user_id)
        for name, value in fields.items():
            if name in ("id", "created_at") or not hasattr(user, name):
                raise AccountError(f"users have no settable attribute {name!r}")
            setattr(user, name, value)
        user.updated_at = self.now()
        return user

    def delete_user(self, user_id: int) -> None:
        """Delete a user for good (OneLogin keeps no deleted-user listing)."""
        self._user(user_id)
        del self.users[user_id]
        self.user_ids.pop(bisect.bisect_left(self.user_ids, user_id))

    def add_group(self, name: str) -> OneLoginGroup:
        """Create a group."""
        group = OneLoginGroup(self._new_id(), name)
        self.groups[group.id] = group
        return group

    def rename_group(self, group_id: int, name: str) -> None:
        """Rename a group (users are not touched)."""
        self.groups[group_id].name = name

    def add_role(self, name: str) -> OneLoginRole:
        """Create a role."""
        role = OneLoginRole(self._new_id(), name)
        self.roles[role.id] = role
        return role

    def assign_role(self, user_id: int, role_id: int) -> None:
        """Give a user a role."""
        if role_id not in self.roles:
            raise AccountError(f"no role {role_id}")
        user = self._user(user_id)
        if role_id not in user.role_ids:
            self.update_user(user_id, role_ids=[*user.role_ids, role_id])

    def remove_role(self, user_id: int, role_id: int) -> None:
        """Take a role away from a user."""
        user = self._user(user_id)
        self.update_user(user_id, role_ids=[r for r in user.role_ids if r != role_id])


def generate_account(
    users: int = 100,
    groups: int = 10,
    roles: int = 8,
    seed: int = 0,
    clock: Callable[[], float] = time.time,
) -> Account:
    """A deterministic account: same arguments, same ids, names and assignments.

    Every 11th user has no group; status 2 (suspended) every 13th, 0 (unactivated) every
    29th, 3 (locked) every 31st; state 0 (unapproved) every 37th; each user holds 0–3 roles.
    Group 0 and role 0 are both named ``Engineering`` (a name collision on purpose).
    """
    rng = random.Random(seed)
    account = Account(100_000 + seed, f"emu{seed}", clock)
    for g in range(groups):
        group = OneLoginGroup(400_001 + g, "Engineering" if g == 0 else f"Group {g:03d}")
        account.groups[group.id] = group
    for r in range(roles):
        role = OneLoginRole(200_001 + r, "Engineering" if r == 0 else f"Role {r:02d}")
        account.roles[role.id] = role
    group_ids, role_ids = list(account.groups), list(account.roles)
    base = parse_time("2024-01-01T00:00:00Z")
    for i in range(users):
        first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
        username = f"{first.lower()}.{last.lower().replace(' ', '')}{i}"
        user = OneLoginUser(
            10_000_001 + i,
            username,
            f"{username}@example.com",
            first,
            last,
            department=DEPARTMENTS[i % len(DEPARTMENTS)],
            group_id=None if (i % 11 == 10 or not group_ids) else rng.choice(group_ids),
            role_ids=sorted(rng.sample(role_ids, min(len(role_ids), rng.randint(0, 3)))),
            status=_status(i),
            state=0 if i % 37 == 36 else 1,
            manager_user_id=None if i == 0 else 10_000_001 + (i - 1) // 7,
            created_at=iso(base + i),
            updated_at=iso(base + 3600 + i),
        )
        account.users[user.id] = user
    account.user_ids = sorted(account.users)
    return account


def _status(index: int) -> int:
    if index % 13 == 12:
        return 2
    if index % 29 == 28:
        return 0
    if index % 31 == 30:
        return 3
    return 1
