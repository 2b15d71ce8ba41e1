"""Evaluating invariants (:mod:`idpsync.config_invariants`) on a directory state.

:func:`offenders` lists, per invariant, the objects that break it in one connector's
:class:`~idpsync.model.DirectoryState` (logins of users, names of groups). :func:`check`
compares the state before a run with the state the run would leave: a run is refused
(:class:`InvariantBreached`, a kind of guard refusal) when it would add an offender that was not
one before — a breach already in the directory does not block unrelated runs, but any run that
makes it worse does. ``--allow-invariant NAME`` lets a run through one invariant.
Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from idpsync.config_invariants import InvariantSettings
from idpsync.engine.guard import GuardRefused
from idpsync.model import DirectoryState, DirUser, MemberKind

SHOWN = 10
"""At most this many offenders are named per invariant in a message."""


class InvariantBreached(GuardRefused):
    """A run would break one or more invariants; nothing was changed."""

    def __init__(self, message: str, breaches: dict[str, list[str]]) -> None:
        super().__init__(message, 0)
        self.breaches = breaches
        """New offenders by invariant name."""


def _groups_named(state: DirectoryState, name: str) -> list[str]:
    wanted = name.casefold()
    return [sid for sid, g in state.groups.items() if g.name.casefold() == wanted]


def _members(state: DirectoryState, group_ids: Collection[str]) -> set[tuple[MemberKind, str]]:
    return {(m.member_kind, m.member_id) for m in state.memberships if m.group_id in group_ids}


def _label(state: DirectoryState, kind: MemberKind, source_id: str) -> str:
    if kind is MemberKind.USER:
        user = state.users.get(source_id)
        return user.login if user else source_id
    group = state.groups.get(source_id)
    return f"group {group.name}" if group else source_id


def _value(user: DirUser, path: str) -> Any:
    if path.startswith("attributes."):
        return (user.attributes or {}).get(path.split(".", 1)[1])
    return getattr(user, path, None)


def offenders(state: DirectoryState, inv: InvariantSettings) -> list[str]:
    """The objects of ``state`` that break ``inv`` (sorted; empty: it holds)."""
    if inv.group is not None:
        members = _members(state, _groups_named(state, inv.group))
        if inv.max_members is not None:
            if len(members) <= inv.max_members:
                return []
        elif inv.members_within is not None:
            members -= _members(state, _groups_named(state, inv.members_within))
        return sorted(_label(state, kind, sid) for kind, sid in members)
    active = (u for u in state.users.values() if u.active)
    if inv.no_active_where is not None:
        where = inv.no_active_where
        return sorted(u.login for u in active if all(_value(u, k) == v for k, v in where.items()))
    suffix = (inv.active_email_suffix or "").casefold()
    return sorted(u.login for u in active if u.email and not u.email.casefold().endswith(suffix))


def breaches(
    state: DirectoryState, invariants: Iterable[InvariantSettings]
) -> dict[str, list[str]]:
    """Offenders of every broken invariant, by name."""
    found = {inv.name: offenders(state, inv) for inv in invariants}
    return {name: names for name, names in found.items() if names}


def _listed(names: list[str]) -> str:
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return ", ".join(names[:SHOWN]) + more


def describe(invariants: Iterable[InvariantSettings], found: dict[str, list[str]]) -> list[str]:
    """One line per broken invariant: its name, its rule and the offenders."""
    rules = {inv.name: inv.describe() for inv in invariants}
    return [f"{name} ({rules[name]}): {_listed(names)}" for name, names in found.items()]


def check(
    before: DirectoryState,
    after: DirectoryState,
    invariants: list[InvariantSettings],
    *,
    allowed: Collection[str] = (),
) -> None:
    """Raise :class:`InvariantBreached` when going from ``before`` to ``after`` adds offenders."""
    checked = [inv for inv in invariants if inv.name not in allowed]
    if not checked:
        return
    old = breaches(before, checked)
    new = {
        name: [n for n in names if n not in set(old.get(name, ()))]
        for name, names in breaches(after, checked).items()
    }
    new = {name: names for name, names in new.items() if names}
    if not new:
        return
    lines = describe(checked, new)
    flags = " ".join(f"--allow-invariant {name}" for name in new)
    raise InvariantBreached(
        f"refused: this run would break {len(new)} invariant(s): {'; '.join(lines)}. Nothing "
        f"was changed. Fix the IdP or the configuration; if this is intended, run again with "
        f"{flags}.",
        new,
    )
