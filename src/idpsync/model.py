"""Normalised records shared by every part of idpsync.

A source turns its IdP's pages into these records; the store, the engine and the targets only
ever see these. Nothing here imports anything else of ours.

Identity: every record is keyed by the IdP's *immutable* id (``source_id``), never by a login
or an email, so a rename or an email change is an update and never a delete plus a create.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from idpsync.model_edges import EdgeList, MemberKind, Membership

__all__ = [
    "USER_FIELDS",
    "DirGroup",
    "DirUser",
    "DirectoryState",
    "EdgeList",
    "EdgeMaker",
    "JSONValue",
    "MemberKind",
    "Membership",
    "SkippedRecord",
    "Snapshot",
    "SourceGroup",
    "SourceUser",
]

JSONValue = Any
"""A value that survives ``json.dumps``: str, int, float, bool, None, lists and dicts of them."""


@dataclass(frozen=True, slots=True)
class SourceUser:
    """A person as the IdP describes them, normalised."""

    source_id: str
    """The IdP's immutable id (Entra object id, Google id, Keycloak UUID, Okta id, OneLogin id)."""
    login: str
    """The login / username the directory will use (already mapped by the source preset)."""
    email: str | None = None
    """Primary e-mail address, if any."""
    display_name: str | None = None
    """Full display name."""
    given_name: str | None = None
    """First name."""
    family_name: str | None = None
    """Last name."""
    active: bool = True
    """False when the IdP says the account is disabled, suspended or deprovisioned."""
    manager_id: str | None = None
    """``source_id`` of the user's manager, when the IdP tells it."""
    photo_ref: str | None = None
    """An opaque version of the user's photo (etag, hash); ``None`` when there is no photo."""
    attributes: Mapping[str, JSONValue] = field(default_factory=dict)
    """Every other attribute the source fetched, by the IdP's own name, for mapping and display."""


@dataclass(frozen=True, slots=True)
class SourceGroup:
    """A group as the IdP describes it."""

    source_id: str
    """The IdP's immutable id of the group."""
    name: str
    """Display name of the group (a source may qualify it, e.g. a Keycloak path)."""
    description: str | None = None
    """Free-text description."""
    attributes: Mapping[str, JSONValue] = field(default_factory=dict)
    """Values the source keeps with the group in its mirror, by the IdP's own name (Google: the
    group's ``email``, to resolve the admin log's addresses); never mapped to the directory."""


EdgeMaker = Callable[[str, str, MemberKind], Membership]
"""Builds an edge: :class:`Membership` itself, or :meth:`Snapshot.edge` to share the ids."""


@dataclass(frozen=True, slots=True)
class SkippedRecord:
    """A record the source read but could not use (bad shape, a value no store can hold).

    The policy reports it in the run's ``skipped`` list and keeps what the directory already
    holds for ``source_id`` as it is (nothing is created, changed or removed for it).
    """

    kind: str
    """``user`` or ``group``."""
    source_id: str
    """The IdP's id of the record."""
    key: str
    """Its login or name as far as it could be read (else the id)."""
    reason: str
    """Why, in one line, naming the endpoint or field."""


@dataclass(slots=True)
class Snapshot:
    """Everything a source read in one run.

    ``complete`` is true only when every page of every listing was fetched. An incomplete
    snapshot may add and update, but never removes, deactivates or deletes anything.
    """

    users: list[SourceUser] = field(default_factory=list)
    """All users read."""
    groups: list[SourceGroup] = field(default_factory=list)
    """All groups read."""
    memberships: EdgeList = field(default_factory=EdgeList)
    """Direct membership edges read, held compactly (:class:`EdgeList`; any iterable of
    :class:`Membership` assigned or given is turned into one)."""
    complete: bool = True
    """Whether every listing was read to its end."""
    incomplete_reasons: list[str] = field(default_factory=list)
    """Why the snapshot is incomplete, one sentence per problem, for the run record."""
    limits: list[str] = field(default_factory=list)
    """The reasons of ``incomplete_reasons`` that are no failure but the kind of read (an
    incremental read of an IdP that lists no deletions): such a run still succeeds."""
    cleaned_users: int = 0
    """How many of the first :attr:`users` are cleaned already, as
    :func:`~idpsync.sources.clean.normalise` cleans them (reported alike): it leaves them as
    they are (a source may clean its users as its pages come). Trusted only while it still
    describes :attr:`users` (:meth:`users_cleaned`)."""
    cleaned_of: list[SourceUser] | None = field(default=None, repr=False, compare=False)
    """The list :attr:`cleaned_users` counts in (set with it by ``clean_users``)."""

    def users_cleaned(self) -> int:
        """:attr:`cleaned_users` if it still describes :attr:`users`, else 0.

        A source that replaced :attr:`users` after they were counted (or shortened the list)
        has its users cleaned again, not left as they are.
        """
        fits = self.cleaned_of is self.users and self.cleaned_users <= len(self.users)
        return self.cleaned_users if fits else 0

    def mark_incomplete(self, reason: str) -> None:
        """Record that part of the IdP's data could not be read."""
        self.complete = False
        self.incomplete_reasons.append(reason)

    def mark_limited(self, reason: str) -> None:
        """Record that this kind of read cannot see removals (no failure: nothing went wrong)."""
        self.mark_incomplete(reason)
        self.limits.append(reason)

    # The narrow reads below are what a source's ``delta()`` may ask of the staged mirror
    # instead of its whole records: the store's mirror answers them without building any.

    def user_ids(self) -> list[str]:
        """The ids of :attr:`users`, in their order."""
        return [user.source_id for user in self.users]

    def group_ids(self) -> list[str]:
        """The ids of :attr:`groups`, in their order."""
        return [group.source_id for group in self.groups]

    def managers(self) -> dict[str, str | None]:
        """Every user's ``manager_id`` (``None``: no manager), by user id."""
        return {user.source_id: user.manager_id for user in self.users}

    def users_of(self, ids: Collection[str]) -> list[SourceUser]:
        """The users of :attr:`users` whose id is one of ``ids``."""
        wanted = ids if isinstance(ids, (set, frozenset)) else set(ids)
        return [user for user in self.users if user.source_id in wanted]

    def user_ids_with(self, attribute: str, value: str) -> list[str]:
        """The ids of the users whose ``attributes[attribute]`` is the string ``value``."""
        return [u.source_id for u in self.users if u.attributes.get(attribute) == value]

    def user_attribute_values(self, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Every user's ``attributes`` named ``names`` (those it holds, not null), by user id."""
        return {
            user.source_id: {
                n: user.attributes[n] for n in names if user.attributes.get(n) is not None
            }
            for user in self.users
        }

    def group_attribute_values(self, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Every group's ``attributes`` named ``names`` (those it holds, not null), by group id."""
        return {
            group.source_id: {
                n: group.attributes[n] for n in names if group.attributes.get(n) is not None
            }
            for group in self.groups
        }

    def edges_of_members(self, ids: Collection[str]) -> list[Membership]:
        """The edges of :attr:`memberships` whose member (user or group) is one of ``ids``."""
        wanted = ids if isinstance(ids, (set, frozenset)) else set(ids)
        return [edge for edge in self.memberships if edge.member_id in wanted]

    def edges_of_groups(self, ids: Collection[str]) -> list[Membership]:
        """The edges of :attr:`memberships` whose group is one of ``ids``."""
        wanted = ids if isinstance(ids, (set, frozenset)) else set(ids)
        return [edge for edge in self.memberships if edge.group_id in wanted]

    @property
    def gaps(self) -> list[str]:
        """The reasons that are read failures (a listing or page could not be read)."""
        return [r for r in self.incomplete_reasons if r not in self.limits]

    def extend(
        self,
        users: Iterable[SourceUser] = (),
        groups: Iterable[SourceGroup] = (),
        memberships: Iterable[Membership] = (),
    ) -> None:
        """Append records (used by sources that read page by page)."""
        self.users.extend(users)
        self.groups.extend(groups)
        self.memberships.extend(memberships)

    skipped: list[SkippedRecord] = field(default_factory=list)
    """Records left out because they could not be used (kept as the directory holds them)."""

    def skip(self, kind: str, source_id: str, key: str, reason: str) -> None:
        """Leave a record out of the run, reporting why (see :class:`SkippedRecord`)."""
        self.skipped.append(SkippedRecord(kind, source_id, key, reason))

    def edge(self, group_id: str, member_id: str, kind: MemberKind = MemberKind.USER) -> Membership:
        """A :class:`Membership` (its ids are shared once it is in :attr:`memberships`)."""
        return Membership(group_id, member_id, kind)


_EDGES_SLOT: Any = Snapshot.__dict__["memberships"]
"""The slot that holds :attr:`Snapshot.memberships` (behind the converting property below)."""


def _get_edges(snap: Snapshot) -> EdgeList:
    return _EDGES_SLOT.__get__(snap)  # type: ignore[no-any-return]


def _set_edges(snap: Snapshot, edges: Iterable[Membership]) -> None:
    _EDGES_SLOT.__set__(snap, EdgeList.of(edges))


Snapshot.memberships = property(_get_edges, _set_edges)  # type: ignore[assignment, misc]
"""Whatever is assigned (a list of edges in tests, a sorted list) is held as an EdgeList."""


@dataclass(frozen=True, slots=True)
class DirUser:
    """A user as the directory should hold it (the output of the policy)."""

    source_id: str
    """The IdP's immutable id; the directory's anchor for this person."""
    login: str
    """Login name in the directory."""
    email: str | None = None
    """E-mail address."""
    display_name: str | None = None
    """Display name."""
    given_name: str | None = None
    """First name."""
    family_name: str | None = None
    """Last name."""
    active: bool = True
    """Whether the account may be used."""
    manager_id: str | None = None
    """``source_id`` of the manager."""
    photo_ref: str | None = None
    """Opaque photo version."""
    attributes: Mapping[str, JSONValue] = field(default_factory=dict)
    """Extra attributes kept for display and for targets."""

    def fields(self) -> dict[str, JSONValue]:
        """The comparable fields, as a plain dict (used by the planner and the change log).

        The keys of :data:`USER_FIELDS`, in its order; spelt out, not looked up by name
        (a first load at L calls this for each of 100k users).
        """
        return {
            "login": self.login,
            "email": self.email,
            "display_name": self.display_name,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "active": self.active,
            "manager_id": self.manager_id,
            "photo_ref": self.photo_ref,
            "attributes": self.attributes,
        }


USER_FIELDS: tuple[str, ...] = (
    "login",
    "email",
    "display_name",
    "given_name",
    "family_name",
    "active",
    "manager_id",
    "photo_ref",
    "attributes",
)
"""The fields of :class:`DirUser` that a sync compares and writes."""


@dataclass(frozen=True, slots=True)
class DirGroup:
    """A group as the directory should hold it."""

    source_id: str
    """The IdP's immutable id of the group."""
    name: str
    """Group name in the directory."""
    description: str | None = None
    """Free-text description."""

    def fields(self) -> dict[str, JSONValue]:
        """The comparable fields, as a plain dict."""
        return {"name": self.name, "description": self.description}


@dataclass(slots=True)
class DirectoryState:
    """The part of the directory one connector owns: users, groups and direct memberships.

    Users and groups are keyed by ``source_id``. Memberships are edges between source ids.
    """

    users: dict[str, DirUser] = field(default_factory=dict)
    """Users by source id."""
    groups: dict[str, DirGroup] = field(default_factory=dict)
    """Groups by source id."""
    memberships: set[Membership] = field(default_factory=set)
    """Direct membership edges."""
