"""What every target offers delivery: find, create, change and remove users, groups and members.

A target module (SCIM, Crowd, LDAP) implements :class:`Target`. Delivery
(:mod:`idpsync.targets.delivery`) decides *what* to do from the change log and the object map;
the target only knows *how* to say it to its server. Every operation is idempotent in effect:
adding a present member or removing an absent one succeeds, and a create that finds the object
already there reports :class:`~idpsync.targets.errors.Conflict` so delivery can adopt it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from idpsync.photos import Photo
from idpsync.targets.attributes import Held, Value

USER_FIELDS = ("login", "email", "display_name", "given_name", "family_name", "active")
"""The directory fields a target carries; others (manager, photo, attributes) stay local."""


@dataclass(frozen=True, slots=True)
class RemoteUser:
    """A user as the target holds it."""

    id: str
    """The target's id (SCIM ``id``, Crowd user name, LDAP ``entryUUID``)."""
    external_id: str | None
    """The key idpsync gave it (the directory's source id), if any."""
    fields: dict[str, Any]
    """The :data:`USER_FIELDS` as the target holds them."""
    attributes: dict[str, Held] | None = None
    """The mapped attributes the target could read back (asked for with ``list_users``), by
    key; a key left out cannot be read back and is not compared. ``None``: not read."""
    photos: tuple[str, ...] | None = None
    """The photos the target holds for the user, as digests of their bytes (a value that holds
    no bytes, such as a URL, as :data:`FOREIGN_PHOTO`); ``None``: not read."""


FOREIGN_PHOTO = "foreign"
"""A photo value in the target that is not bytes idpsync could have sent (a URL…)."""


@dataclass(frozen=True, slots=True)
class RemoteGroup:
    """A group as the target holds it."""

    id: str
    """The target's id."""
    external_id: str | None
    """The key idpsync gave it, if any."""
    name: str
    """Its display name."""
    members: frozenset[str] = field(default_factory=frozenset)
    """Target ids of its direct members (users and groups)."""


Member = tuple[str, str]
"""A member to add or remove: (target id, ``user`` or ``group``)."""


class Target(Protocol):
    """The operations delivery needs from a target's server."""

    async def find_user(self, source_id: str, fields: Mapping[str, Any]) -> RemoteUser | None:
        """The target's user for this directory user: by external id, then login/e-mail."""

    async def create_user(
        self,
        source_id: str,
        fields: Mapping[str, Any],
        values: Mapping[str, Value] | None = None,
        photo: Photo | None = None,
    ) -> str:
        """Create the user and return its target id (``Conflict`` if it exists).

        ``values``: mapped attributes (set ones) the new user is created with, as
        :meth:`~idpsync.targets.attributes.AttributeTarget.set_attributes` would set them.
        ``photo``: the user's photo, given only to a target that holds photos and only of a
        type it holds (:func:`idpsync.targets.photo_delivery.creation_photo`).
        """

    async def update_user(self, remote_id: str, changed: Mapping[str, Any]) -> str | None:
        """Change the given fields (``active`` included) of the user.

        Returns the user's new remote id when the change renamed it (a target whose ids are
        names), else ``None``.
        """

    async def remove_user(self, remote_id: str) -> None:
        """Deactivate the user, or delete it when the target is set up to delete."""

    async def find_group(self, source_id: str, name: str) -> RemoteGroup | None:
        """The target's group for this directory group: by external id, then name."""

    async def create_group(self, source_id: str, name: str) -> str:
        """Create the group and return its target id (``Conflict`` if the name is taken)."""

    async def rename_group(self, remote_id: str, source_id: str, name: str) -> str:
        """Rename the group; returns its (possibly new, if re-created) target id."""

    async def delete_group(self, remote_id: str) -> None:
        """Delete the group (its memberships go with it)."""

    async def add_members(self, remote_id: str, members: Sequence[Member]) -> None:
        """Add members that are absent (present ones are left as they are)."""

    async def remove_members(self, remote_id: str, members: Sequence[Member]) -> None:
        """Remove members that are present (absent ones are ignored)."""

    async def list_users(
        self, mapped: Sequence[str] = (), photos: bool = False
    ) -> list[RemoteUser]:
        """Every user of the target (for reconcile), with the ``mapped`` attributes it can read.

        With ``photos``, also the photos it holds (a target that holds none ignores it).
        """

    async def list_groups(self) -> list[RemoteGroup]:
        """Every group of the target, with members (for reconcile)."""
