"""Policy: turns a connector's staged snapshot into the directory state it should produce.

Steps, in order (``docs/configuration.md``, section "policy"):

1. **Groups**: include/exclude patterns, then renaming (regex rules, ``drop_unmatched``),
   lower-casing and a prefix. Dropped groups do not reach the directory.
2. **Scope**: with ``required_groups``, only direct members (or, with ``transitive``, members
   of nested groups) of one of those IdP groups are synced. Then the user filters.
3. **Mapping**: each field by its template (:mod:`idpsync.engine.mapping`); a user whose
   mapping fails or gives an invalid login is *skipped* with the reason.
4. **Memberships**: direct edges between synced users and groups; edges that point at
   objects outside the result (service principals, devices, dropped groups) are left out.
5. **Always-groups**: groups idpsync creates for the connector and puts every synced user in.

Skipped users and groups are reported, never removed: the runner keeps whatever the directory
already holds for them (:func:`hold`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from idpsync.config_policy import PolicySettings, UserFilter, pattern_matches
from idpsync.engine.edges import EdgePlanner, InMemory
from idpsync.engine.mapping import Mapper, MappingError
from idpsync.model import (
    DirectoryState,
    DirGroup,
    MemberKind,
    Membership,
    Snapshot,
    SourceGroup,
    SourceUser,
)

ALWAYS_PREFIX = "idpsync:always:"
"""Source-id prefix of the always-assigned groups idpsync creates for a connector."""


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


@dataclass(frozen=True, slots=True)
class Skipped:
    """An object of the snapshot that was not synced, and why."""

    kind: Literal["user", "group"]
    """``user`` or ``group``."""
    source_id: str
    """The IdP's id."""
    key: str
    """The login or name, as far as it is known."""
    reason: str
    """Why, in words."""
    collided: bool = False
    """Whether the reason is a name collision (another object holds or wants the name)."""


@dataclass
class PolicyResult:
    """The desired state, plus what was left out and why."""

    desired: DirectoryState = field(default_factory=DirectoryState)
    """What the directory should hold for the connector."""
    skipped: list[Skipped] = field(default_factory=list)
    """Objects in the IdP that are not synced because of a problem (kept as they are)."""
    out_of_scope: dict[str, str] = field(default_factory=dict)
    """Users in the snapshot but outside the scope, by source id, with the reason."""
    dropped_groups: dict[str, str] = field(default_factory=dict)
    """Groups in the snapshot dropped by the group rules, by source id, with the reason."""
    warnings: list[str] = field(default_factory=list)
    """Configuration or data problems an administrator should know about."""

    @property
    def held_users(self) -> set[str]:
        """Source ids of skipped users (the directory keeps them as they are)."""
        return {s.source_id for s in self.skipped if s.kind == "user"}

    @property
    def held_groups(self) -> set[str]:
        """Source ids of skipped groups."""
        return {s.source_id for s in self.skipped if s.kind == "group"}

    def skip_user(self, source_id: str, key: str, reason: str, *, collided: bool = False) -> None:
        """Take a user out of the desired state and report it."""
        self.desired.users.pop(source_id, None)
        self.skipped.append(Skipped("user", source_id, key, reason, collided))

    def skip_group(self, source_id: str, key: str, reason: str, *, collided: bool = False) -> None:
        """Take a group out of the desired state and report it."""
        self.desired.groups.pop(source_id, None)
        self.skipped.append(Skipped("group", source_id, key, reason, collided))


def desired_state(
    snapshot: Snapshot, settings: PolicySettings, preset: Mapping[str, str] | None = None
) -> DirectoryState:
    """The directory state the snapshot asks for under ``settings``."""
    return evaluate(snapshot, settings, preset).desired


def evaluate(
    snapshot: Snapshot,
    settings: PolicySettings,
    preset: Mapping[str, str] | None = None,
    *,
    connector: str = "",
    edges: EdgePlanner | None = None,
) -> PolicyResult:
    """Apply groups rules, scope, filters and mapping to ``snapshot`` (see the module doc).

    ``preset``: the mapping templates of the connector's source type, for the fields the
    configuration does not map (none: those fields are copied as read). ``edges``: where the
    staged edges are when they are not in ``snapshot.memberships`` (the store): scoping asks it
    for the members of the required groups, and the desired state gets no edges (they are
    diffed where they are, :mod:`idpsync.engine.edges`).
    """
    result = PolicyResult()
    for bad in snapshot.skipped:  # records the source could not use: held as they are
        kind: Literal["user", "group"] = "group" if bad.kind == "group" else "user"
        result.skipped.append(Skipped(kind, bad.source_id, bad.key, bad.reason))
    groups = {g.source_id: g for g in snapshot.groups}
    for group in snapshot.groups:
        name, why = group_name(group.name, settings)
        if name is None:
            result.dropped_groups[group.source_id] = why
        else:
            result.desired.groups[group.source_id] = DirGroup(
                group.source_id, name, group.description
            )
    in_scope = _scope(
        snapshot, groups, settings, result, edges or InMemory(snapshot.memberships, ())
    )
    mapper = Mapper.build(settings.mapping, preset)
    held = result.held_users
    for user in snapshot.users:
        if user.source_id not in in_scope or user.source_id in held:
            continue
        rejected = _filtered_out(user, settings.user_filters)
        if rejected:
            result.out_of_scope[user.source_id] = rejected
            continue
        try:
            result.desired.users[user.source_id] = mapper.map_user(user)
        except MappingError as exc:
            result.skipped.append(Skipped("user", user.source_id, user.login, str(exc)))
    if edges is None:
        _memberships(snapshot.memberships, result.desired)
    _always_groups(settings.groups.always, result.desired, connector, edges=edges is None)
    return result


def group_name(name: str, settings: PolicySettings) -> tuple[str | None, str]:
    """The directory name of an IdP group, or ``None`` and why it is dropped."""
    rules = settings.groups
    if rules.include and not any(pattern_matches(p, name) for p in rules.include):
        return None, "matches no groups.include pattern"
    for pattern in rules.exclude:
        if pattern_matches(pattern, name):
            return None, f"matches groups.exclude pattern {pattern!r}"
    renamed = None
    for rule in rules.rename:
        match = re.fullmatch(rule.match, name, re.IGNORECASE)
        if match:
            renamed = match.expand(rule.replace)
            break
    if renamed is None:
        if rules.drop_unmatched and rules.rename:
            return None, "matches no groups.rename rule (drop_unmatched)"
        renamed = name
    if rules.lowercase:
        renamed = renamed.lower()
    renamed = (rules.prefix + renamed).strip()
    if not renamed:
        return None, "the renamed name is empty"
    return renamed, ""


def _scope(
    snapshot: Snapshot,
    groups: dict[str, SourceGroup],
    settings: PolicySettings,
    result: PolicyResult,
    edges: EdgePlanner,
) -> set[str]:
    everyone = {u.source_id for u in snapshot.users}
    if not settings.required_groups:
        return everyone
    by_name: dict[str, list[str]] = {}
    for group in groups.values():
        by_name.setdefault(_fold(group.name), []).append(group.source_id)
    roots: set[str] = set()
    for wanted in settings.required_groups:
        found = [wanted] if wanted in groups else by_name.get(_fold(wanted), [])
        if not found:
            result.warnings.append(f"required group {wanted!r} is not in the IdP's data")
        roots.update(found)
    members = edges.members(roots, transitive=settings.transitive)
    names = ", ".join(settings.required_groups)
    for sid in sorted(everyone - members):
        result.out_of_scope[sid] = f"not a member of a required group ({names})"
    return everyone & members


def scope_rule(snapshot: Snapshot, settings: PolicySettings, source_id: str) -> str:
    """Which rule puts the user ``source_id`` in scope, in words (for ``idpsync explain``).

    Only reports: :func:`evaluate` decides. Meant for a user :func:`evaluate` kept in scope;
    it names the required group they belong to (directly or through nested groups) and the
    filters they passed.
    """
    user = next((u for u in snapshot.users if u.source_id == source_id), None)
    parts = [_group_rule(snapshot, settings, source_id)]
    includes = [(i, r) for i, r in enumerate(settings.user_filters, 1) if r.action == "include"]
    if user is not None and includes:
        number = next((i for i, r in includes if filter_matches(r, user)), None)
        rule = settings.user_filters[number - 1] if number else None
        if rule is not None:
            parts.append(f"matches include filter #{number} ({rule.field} {rule.op})")
    if any(r.action == "exclude" for r in settings.user_filters):
        parts.append("matches no exclude filter")
    return "; ".join(parts)


def _group_rule(snapshot: Snapshot, settings: PolicySettings, source_id: str) -> str:
    if not settings.required_groups:
        return "no required groups: every user of the IdP is in scope"
    groups = {g.source_id: g for g in snapshot.groups}
    for wanted in settings.required_groups:
        roots = (
            {wanted}
            if wanted in groups
            else {g.source_id for g in groups.values() if _fold(g.name) == _fold(wanted)}
        )
        if source_id in _members(roots, snapshot.memberships, transitive=False):
            return f"direct member of required group {wanted!r}"
        if settings.transitive and source_id in _members(
            roots, snapshot.memberships, transitive=True
        ):
            return f"member of required group {wanted!r} through nested groups (transitive)"
    return "not found in any required group"


def _members(roots: set[str], edges: Iterable[Membership], *, transitive: bool) -> set[str]:
    return InMemory(edges, ()).members(roots, transitive=transitive)


def lookup(user: SourceUser, path: str) -> Any:
    """The value at ``path`` (``email``, ``attributes.dept``, ``attributes.a.b``), or ``None``."""
    head, _, rest = path.partition(".")
    if head == "attributes":
        value: Any = dict(user.attributes)
        for part in rest.split(".") if rest else []:
            value = value.get(part) if isinstance(value, dict) else None
        return value
    return getattr(user, head, None) if head in _USER_NAMES and not rest else None


_USER_NAMES = frozenset(
    {
        "source_id",
        "login",
        "email",
        "display_name",
        "given_name",
        "family_name",
        "active",
        "manager_id",
    }
)


def _norm(value: Any, ignore_case: bool) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = unicodedata.normalize("NFKC", str(value))
    return text.casefold() if ignore_case else text


def filter_matches(rule: UserFilter, user: SourceUser) -> bool:
    """Whether ``user`` matches one filter rule."""
    value = lookup(user, rule.field)
    if rule.op == "empty":
        if isinstance(value, str):
            return not value.strip()
        return value is None or (isinstance(value, list | dict) and not value)
    if value is None:
        return False
    values = value if isinstance(value, list) else [value]
    flags = re.IGNORECASE if rule.ignore_case else 0
    for item in values:
        text = _norm(item, rule.ignore_case)
        if rule.op == "equals" and text == _norm(rule.value, rule.ignore_case):
            return True
        if (
            rule.op == "in"
            and isinstance(rule.value, list)
            and text in {_norm(v, rule.ignore_case) for v in rule.value}
        ):
            return True
        if rule.op == "endswith" and text.endswith(_norm(rule.value, rule.ignore_case)):
            return True
        if rule.op == "matches" and re.search(str(rule.value), str(item), flags):
            return True
    return False


def _filtered_out(user: SourceUser, rules: list[UserFilter]) -> str:
    """Why the filters drop ``user`` (empty string: kept)."""
    includes = [(i, r) for i, r in enumerate(rules, 1) if r.action == "include"]
    if includes and not any(filter_matches(r, user) for _, r in includes):
        return "matches no include filter"
    for number, rule in enumerate(rules, 1):
        if rule.action == "exclude" and filter_matches(rule, user):
            return f"excluded by user filter #{number} ({rule.field} {rule.op})"
    return ""


def _memberships(edges: Iterable[Membership], desired: DirectoryState) -> None:
    for edge in edges:
        if edge.group_id not in desired.groups or edge.member_id == edge.group_id:
            continue
        known = desired.users if edge.member_kind is MemberKind.USER else desired.groups
        if edge.member_id in known:
            desired.memberships.add(edge)


def always_group_id(name: str) -> str:
    """The source id idpsync gives the always-assigned group ``name``."""
    return ALWAYS_PREFIX + _fold(name)


def _always_groups(
    names: list[str], desired: DirectoryState, connector: str, *, edges: bool = True
) -> None:
    for name in names:
        gid = always_group_id(name)
        owner = f"connector {connector}" if connector else "this connector"
        desired.groups[gid] = DirGroup(gid, name, f"Every user synced by {owner}")
        for sid in desired.users if edges else ():
            desired.memberships.add(Membership(gid, sid, MemberKind.USER))


def hold(
    desired: DirectoryState, current: DirectoryState, users: set[str], groups: set[str]
) -> None:
    """Keep skipped objects exactly as the directory holds them (with their memberships)."""
    for sid in users:
        if sid in current.users:
            desired.users[sid] = current.users[sid]
    for sid in groups:
        if sid in current.groups:
            desired.groups[sid] = current.groups[sid]
    if not users and not groups:
        return  # no edge can touch a held object
    for edge in current.memberships:
        touches = edge.group_id in groups or (
            edge.member_id in (users if edge.member_kind is MemberKind.USER else groups)
        )
        if not touches or edge.group_id not in desired.groups:
            continue
        known = desired.users if edge.member_kind is MemberKind.USER else desired.groups
        if edge.member_id in known:
            desired.memberships.add(edge)


def with_inactive(desired: DirectoryState, source_ids: Iterable[str]) -> list[str]:
    """Force the given users inactive (local deactivations); returns those it changed."""
    changed = []
    for sid in source_ids:
        user = desired.users.get(sid)
        if user is not None and user.active:
            desired.users[sid] = replace(user, active=False)
            changed.append(sid)
    return changed
