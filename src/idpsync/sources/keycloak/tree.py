"""Keycloak's group tree and records: both group shapes, names, nesting, user records.

Keycloak ≥ 23 lists top-level groups with ``subGroupCount`` and empty ``subGroups`` (children
come from ``/groups/{id}/children``); Keycloak ≤ 22 inlines the whole ``subGroups`` tree.
:class:`GroupTree` takes nodes from either and turns them, with the member lists, into
``SourceGroup`` / ``Membership`` records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from idpsync.config_attributes import templates_for
from idpsync.config_policy import PolicySettings
from idpsync.model import (
    EdgeList,
    EdgeMaker,
    MemberKind,
    Membership,
    Snapshot,
    SourceGroup,
    SourceUser,
)
from idpsync.sources.clean import usable_id
from idpsync.sources.keycloak.endpoints import BRIEF, FULL
from idpsync.sources.shape import FLAG, LIST, TEXT, BadRecord, Schema, check, kind_of

if TYPE_CHECKING:
    from idpsync.sources.registry import SourceContext

USER_FIELDS = (
    "username",
    "firstName",
    "lastName",
    "email",
    "emailVerified",
    "enabled",
    "createdTimestamp",
    "federationLink",
)
"""Fields of a brief UserRepresentation kept as attributes (the same from every endpoint)."""


USER_SCHEMA: Schema = {
    "username": TEXT,
    "firstName": TEXT,
    "lastName": TEXT,
    "email": TEXT,
    "enabled": FLAG,
}
"""The types of the user fields the source reads."""
GROUP_SCHEMA: Schema = {"name": TEXT, "path": TEXT, "subGroupCount": (int,), "subGroups": LIST}
"""The types of the group fields the tree reads."""


USES = "attributes.attributes"
"""What a template or filter that reads users' custom attributes mentions."""


def reads_attributes(
    setting: bool | None, policy: PolicySettings | None, targets: Iterable[str] = ()
) -> bool:
    """Whether user ``attributes`` are read: the setting, else whether something uses them.

    Unset, they are read when the connector's policy mentions them or a template of a target
    that receives the connector does (``targets``: those templates, the targets' default
    HR templates included, which look in Keycloak's attributes).
    """
    if setting is not None:
        return setting
    if policy is not None and USES in policy.model_dump_json():
        return True
    return any(USES in template for template in targets)


def user_reading(
    setting: bool | None, context: SourceContext | None
) -> tuple[Callable[[Mapping[str, Any]], SourceUser], Mapping[str, str]]:
    """How users are read: the record maker and the user list's representation parameter."""
    policy, targets = None, list[str]()
    if context is not None:
        policy = context.connector.policy
        targets = templates_for(context.config.settings.targets, context.name)
    full = reads_attributes(setting, policy, targets)
    return partial(user_record, attributes=full), FULL if full else BRIEF


def user_record(raw: Mapping[str, Any], attributes: bool = False) -> SourceUser:
    """A ``SourceUser`` from a (brief or full) UserRepresentation (``BadRecord`` if ill-typed).

    With ``attributes``, the representation's custom ``attributes`` (each a list of strings)
    are kept as ``attributes.attributes``; without, they are left out whatever the endpoint
    returned, so every read of a user gives the same record.
    """
    check(raw, USER_SCHEMA)
    kept = {k: raw[k] for k in USER_FIELDS if k in raw}
    if attributes:
        kept["attributes"] = _custom(raw.get("attributes"))
    first, last = raw.get("firstName") or None, raw.get("lastName") or None
    display = " ".join(p for p in (first, last) if p) or None
    return SourceUser(
        source_id=str(raw["id"]),
        login=str(raw.get("username") or raw["id"]),
        email=raw.get("email") or None,
        display_name=display,
        given_name=first,
        family_name=last,
        active=bool(raw.get("enabled", True)),
        attributes=kept,
    )


def _custom(value: object) -> dict[str, list[str]]:
    """Keycloak's ``attributes`` (name → list of strings); anything else is ``BadRecord``."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(v, list) and all(isinstance(x, str) for x in v) for v in value.values()
    ):
        raise BadRecord("'attributes' is not an object of string lists")
    return {str(k): list(v) for k, v in sorted(value.items())}


def identified_once(
    snap: Snapshot, where: str, items: list[Any], known: set[str]
) -> list[dict[str, Any]]:
    """:func:`~idpsync.sources.shape.identified`, each id checked once across listings.

    The member lists of a realm name each user about ten times; an id found usable once (kept
    in ``known``) is not checked again. The answer is the same as ``identified``'s.
    """
    good: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        value = item.get("id")
        if type(value) is str and value in known:
            good.append(item)
        elif usable_id(value) is not None:
            good.append(item)
            if type(value) is str:
                known.add(value)
    if len(good) < len(items):
        bad = len(items) - len(good)
        snap.mark_incomplete(f"{where}: {bad} item(s) are not objects with a usable id")
    return good


@dataclass(frozen=True, slots=True)
class Node:
    """One group of the tree."""

    id: str
    name: str
    path: str
    parent: str | None


@dataclass
class GroupTree:
    """Every group read, with its parent; ``pending`` holds ≥ 23 groups whose children are due."""

    nodes: dict[str, Node] = field(default_factory=dict)
    pending: list[tuple[str, int]] = field(default_factory=list)
    """``(group id, subGroupCount)`` of groups whose children must still be listed."""
    shape: str = "unknown"
    """``23+`` (``subGroupCount`` seen), ``22-`` (inline ``subGroups``) or ``unknown``."""

    def add(self, raw: Mapping[str, Any], parent: str | None) -> None:
        """Record a group and, in the ≤ 22 shape, its inline sub-groups (recursively).

        Raises ``BadRecord`` (or ``KeyError``/``TypeError``) for a group of the wrong shape;
        the groups read until then stay recorded.
        """
        check(raw, GROUP_SCHEMA)
        gid = usable_id(raw.get("id"))
        if gid is None:
            raise BadRecord(f"a group has no usable id ({kind_of(raw.get('id'))})")
        name = str(raw.get("name") or gid)
        up = self.nodes.get(parent) if parent else None
        path = str(raw.get("path") or f"{up.path if up else ''}/{name}")
        self.nodes[gid] = Node(gid, name, path, parent)
        if "subGroupCount" in raw:
            self.shape = "23+"
            count = int(raw.get("subGroupCount") or 0)
            if count > 0:
                self.pending.append((gid, count))
            return
        subs = raw.get("subGroups") or []
        if subs:
            self.shape = "22-"
        for sub in subs:
            if not isinstance(sub, Mapping):
                raise BadRecord(f"a sub-group of {gid} is {kind_of(sub)}, expected an object")
            self.add(sub, gid)

    def add_or_mark(self, raw: Mapping[str, Any], parent: str | None, snap: Snapshot) -> None:
        """:meth:`add`, marking ``snap`` incomplete for a group of the wrong shape."""
        try:
            self.add(raw, parent)
        except (BadRecord, KeyError, TypeError, ValueError) as exc:
            where = f"sub-groups of {parent}" if parent else "the group list"
            reason = str(exc) if isinstance(exc, BadRecord) else type(exc).__name__
            snap.mark_incomplete(f"{where}: a group cannot be read ({reason})")

    def take_pending(self) -> list[tuple[str, int]]:
        """The groups whose children are due now (and forget them)."""
        due, self.pending = self.pending, []
        return due

    def ancestors(self, gid: str) -> list[str]:
        """Ids of the groups above ``gid``, nearest first."""
        out: list[str] = []
        node = self.nodes.get(gid)
        while node is not None and node.parent is not None and node.parent not in out:
            out.append(node.parent)
            node = self.nodes.get(node.parent)
        return out

    def groups(self, naming: str) -> list[SourceGroup]:
        """``SourceGroup`` records named by ``path`` or ``name``."""
        return [
            SourceGroup(n.id, n.path if naming == "path" else n.name) for n in self.nodes.values()
        ]

    def memberships(
        self, members: Mapping[str, Iterable[str]], flatten: bool, make: EdgeMaker = Membership
    ) -> Iterator[Membership]:
        """User edges (copied to every ancestor when ``flatten``) and, else, group→group edges.

        Each edge once, group by group in the tree's order and each group's members in the
        order listed (no sort: a million edges sorted as objects cost the read seconds).
        ``make`` builds each edge (:meth:`Snapshot.edge` shares the ids among the edges).
        """
        if flatten:
            seen: set[tuple[str, str]] = set()
            for gid, users in members.items():
                targets = [gid, *self.ancestors(gid)]
                for uid in users:
                    for target in targets:
                        if (target, uid) not in seen:
                            seen.add((target, uid))
                            yield make(target, uid, MemberKind.USER)
            return
        for gid, users in members.items():
            yield from direct_edges(gid, users, make)
        yield from self.group_edges()

    def group_edges(self) -> Iterator[Membership]:
        """Each sub-group as a group member of its parent (the tree's order)."""
        for n in self.nodes.values():
            if n.parent is not None and n.parent in self.nodes:
                yield Membership(n.parent, n.id, MemberKind.GROUP)


def direct_edges(
    gid: str, users: Iterable[str], make: EdgeMaker = Membership
) -> Iterator[Membership]:
    """A group's direct user edges, each once, in the order listed."""
    for uid in dict.fromkeys(users):
        yield make(gid, uid, MemberKind.USER)


def listed_edges(gid: str, users: Iterable[str]) -> EdgeList:
    """:func:`direct_edges` as an :class:`EdgeList`, no edge made as an object.

    A streamed read hands each member listing over so (a million edges at L).
    """
    return EdgeList.fan(gid, users, MemberKind.USER)


def chain(branches: list[dict[str, Any]], gid: str) -> list[dict[str, Any]] | None:
    """The nodes from a root down to ``gid`` in group search results (``subGroups`` trees)."""
    for branch in branches:
        if not isinstance(branch, dict):
            continue
        if str(branch.get("id")) == gid:
            return [branch]
        subs = branch.get("subGroups")
        below = chain(subs, gid) if isinstance(subs, list) else None
        if below is not None:
            return [branch, *below]
    return None
