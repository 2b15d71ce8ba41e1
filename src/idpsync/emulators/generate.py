"""Seeded, deterministic tenant generator (1 to 1,000,000 users).

The same ``(users, groups, seed)`` always gives the same tenant, byte for byte. Shape:

* names: mostly ordinary, with a steady share of awkward ones (non-ASCII, apostrophes, very
  long, emoji, odd case, a missing given name);
* a manager tree (fan-out about 7, the first user is the root; guests have no manager);
* about 3 % disabled users, about 5 % guests (``alias_example.com#EXT#``), about 30 % with a photo;
* groups with skewed sizes: group 0 holds every user, the next three hold 10–30 % each, one
  in fifty holds 2–8 %, the rest are small (Pareto-distributed, mostly under 20);
* nesting: a chain five levels deep, and a diamond (top ⊃ left, right ⊃ bottom), always
  cycle-free (a group only ever contains groups with a higher index);
* members that are neither users nor groups: service principals, devices and org contacts.

100k users with 5k groups (about 1M memberships) generate in a few seconds.
"""

from __future__ import annotations

import functools
import random
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from idpsync.emulators.tenant import OtherKind, Tenant, TenantGroup, TenantObject, TenantUser

GIVEN = (
    "Anna", "Ben", "Chloé", "Dmitri", "Émile", "Fatima", "George", "Hana", "Ivan", "Jürgen",
    "Kwame", "Lucía", "Mei", "Nils", "Olga", "Pierre", "Quinn", "Raúl", "Søren", "Thandiwe",
    "Uwe", "Valentina", "Wei", "Xavier", "Yusuf", "Zoë", "Aoife", "Bjørn", "Ciarán",
)  # fmt: skip
SURNAMES = (
    "Smith", "Müller", "García", "Nguyen", "O'Brien", "Kowalski", "Ångström", "Dubois", "Rossi",
    "Tanaka", "Ivanova", "Papadopoulos", "van der Berg", "Øster", "D'Angelo", "MacDonald",
    "Şahin", "Łukasik", "Čapek", "Nakamura", "Okafor", "Schäfer", "Zhang", "de la Cruz",
)  # fmt: skip
AWKWARD = (
    ("Zoë-Chloé", "Ünïcødé-Ñámé"),
    ("Seán", "O'Connor-D'Arcy"),
    ("Ålexandra Maximiliana Theodora", "von Hohenzollern-Sigmaringen-Wittelsbach-" + "x" * 60),
    ("Dave 🚀", "Rocket 😀"),
    ("mIxEd", "CaSe"),
    (None, "Prince"),
    ("李", "小龍"),
    ("Мария", "Иванова"),
    ("أحمد", "الفارسي"),
)
DEPARTMENTS = ("Engineering", "Sales", "Finance", "HR", "Legal", "Support", "R&D", "Ops")
TITLES = ("Engineer", "Manager", "Analyst", "Director", "Consultant", "Intern", None)
OTHER_KINDS: tuple[OtherKind, ...] = ("servicePrincipal", "device", "orgContact")


@dataclass(frozen=True, slots=True)
class TenantSpec:
    """What to generate."""

    users: int = 100
    """Number of users (≥ 1)."""
    groups: int = 20
    """Number of groups (≥ 1; nesting and the diamond need at least 12)."""
    seed: int = 0
    """Random seed; same seed, same tenant."""
    domain: str = "contoso.example"
    """Verified domain of the tenant."""
    medium_every: int = 50
    """One group in this many holds 2–8 % of the users (lower it for more memberships: at
    100k users / 5k groups, 50 gives about 0.7M memberships and 32 about 1M)."""


def _uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@functools.lru_cache(maxsize=4096)
def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    kept = "".join(ch for ch in folded.lower() if ch.isalnum() or ch in ".-'")
    return kept.strip(".-") or "user"


def _name(rng: random.Random, index: int) -> tuple[str | None, str]:
    if index % 17 == 5:
        return AWKWARD[(index // 17) % len(AWKWARD)]
    return rng.choice(GIVEN), rng.choice(SURNAMES)


def _user(rng: random.Random, index: int, domain: str) -> TenantUser:
    given, surname = _name(rng, index)
    display = f"{given} {surname}" if given else surname
    guest = index > 0 and rng.random() < 0.05
    local = f"{_ascii(given or 'x')}.{_ascii(surname)}{index}"
    alias = f"{local}_partner.example#EXT#" if guest else local
    mail = f"{local}@partner.example" if guest else f"{local}@{domain}"
    return TenantUser(
        id=_uid(rng),
        alias=alias,
        display_name=display,
        given_name=given,
        surname=surname,
        mail=mail,
        job_title=rng.choice(TITLES),
        department=rng.choice(DEPARTMENTS),
        employee_id=None if guest else f"E{index:07d}",
        enabled=index == 0 or rng.random() >= 0.03,
        guest=guest,
        created=f"20{10 + index % 15:02d}-{1 + index % 12:02d}-{1 + index % 28:02d}T08:00:00Z",
        photo_version=1 if rng.random() < 0.3 else 0,
    )


def _users(rng: random.Random, spec: TenantSpec) -> list[TenantUser]:
    users = [_user(rng, i, spec.domain) for i in range(spec.users)]
    staff = [u for u in users if not u.guest]
    for pos, user in enumerate(staff[1:], start=1):
        user.manager_id = staff[(pos - 1) // 7].id
    return users


def _group_sizes(rng: random.Random, spec: TenantSpec) -> list[int]:
    n = spec.users
    sizes = [n]
    for i in range(1, spec.groups):
        if i <= 3:
            sizes.append(max(1, int(n * (0.1 + 0.1 * (i - 1)))))
        elif i % spec.medium_every == 13 % spec.medium_every:
            sizes.append(max(1, int(n * rng.uniform(0.02, 0.08))))
        else:
            sizes.append(min(n, max(1, int(rng.paretovariate(1.3) * 3))))
    return sizes


def _groups(rng: random.Random, spec: TenantSpec, users: list[TenantUser]) -> list[TenantGroup]:
    return list(_drawn_groups(rng, spec, users))


def _drawn_groups(
    rng: random.Random, spec: TenantSpec, users: list[TenantUser]
) -> Iterator[TenantGroup]:
    """The groups one at a time, each with its user members as drawn."""
    ids = [u.id for u in users]
    for i, size in enumerate(_group_sizes(rng, spec)):
        name = "All Users" if i == 0 else f"{rng.choice(DEPARTMENTS)} team {i}"
        if i % 23 == 7:
            name = f"Équipe « {name} » 🎉"
        group = TenantGroup(
            id=_uid(rng),
            name=name,
            description=f"Generated group {i}",
            mail_nickname=f"group{i}",
            unified=i % 3 == 1,
            created=f"2019-{1 + i % 12:02d}-01T00:00:00Z",
        )
        picked = ids if size >= len(ids) else rng.sample(ids, size)
        group.members = dict.fromkeys(picked)
        yield group


def _nest(groups: list[TenantGroup]) -> None:
    """A five-level chain (4 ⊃ 5 ⊃ 6 ⊃ 7 ⊃ 8) and a diamond (9 ⊃ 10, 11 ⊃ 12 … if present)."""
    if len(groups) >= 9:
        for level in range(4, 8):
            groups[level].members[groups[level + 1].id] = None
    if len(groups) >= 13:
        top, left, right, bottom = groups[9], groups[10], groups[11], groups[12]
        top.name, left.name, right.name, bottom.name = (
            "Diamond top",
            "Diamond left",
            "Diamond right",
            "Diamond bottom",
        )
        for parent, child in ((top, left), (top, right), (left, bottom), (right, bottom)):
            parent.members[child.id] = None


def _others(rng: random.Random, spec: TenantSpec, groups: list[TenantGroup]) -> list[TenantObject]:
    count = 3 + spec.users // 100
    others = [
        TenantObject(_uid(rng), OTHER_KINDS[i % 3], f"{OTHER_KINDS[i % 3]} {i}")
        for i in range(count)
    ]
    small = groups[4:] or groups[1:]
    for i, other in enumerate(others if small else ()):
        small[i % len(small)].members[other.id] = None
    return others


def generate_tenant(spec: TenantSpec) -> Tenant:
    """Build the tenant described by ``spec`` (deterministic for a given spec)."""
    if spec.users < 1 or spec.groups < 1:
        raise ValueError("a generated tenant needs at least one user and one group")
    rng = random.Random(spec.seed)
    tenant = Tenant(tenant_id=_uid(rng), domain=spec.domain)
    users = _users(rng, spec)
    groups = _groups(rng, spec, users)
    _nest(groups)
    others = _others(rng, spec, groups)
    tenant.load(users, groups, others)
    return tenant


def generate_streamed(spec: TenantSpec) -> tuple[Tenant, Iterator[TenantGroup]]:
    """The tenant of ``spec`` for a reader that never holds its memberships whole.

    Returns the tenant with its users only, and its groups one at a time as
    :func:`generate_tenant` draws them, each with its user members: a reader takes each
    group's members and may empty them (``group.members = {}``) before it asks for the next.
    Once the last group is drawn, the nesting of :func:`generate_tenant` is added to the groups
    drawn (each holds only its child groups then, if the reader emptied it) and the groups are
    loaded into the tenant. Users, groups, user memberships and nesting are those of
    :func:`generate_tenant` with the same ``spec``; the members that are neither users nor
    groups are left out.
    """
    if spec.users < 1 or spec.groups < 1:
        raise ValueError("a generated tenant needs at least one user and one group")
    rng = random.Random(spec.seed)
    tenant = Tenant(tenant_id=_uid(rng), domain=spec.domain)
    users = _users(rng, spec)
    tenant.load(users, (), ())

    def groups() -> Iterator[TenantGroup]:
        drawn: list[TenantGroup] = []
        for group in _drawn_groups(rng, spec, users):
            drawn.append(group)
            yield group
        _nest(drawn)
        for group in drawn:
            tenant.groups[group.id] = group

    return tenant, groups()
