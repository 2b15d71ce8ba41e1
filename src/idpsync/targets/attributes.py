"""Per-target attribute mapping: what a target receives beyond the core fields.

A target's ``attributes`` table maps a *target attribute* to a template, in the same sandboxed
language as the connector mapping (:mod:`idpsync.templating`). Templates see the directory
user: ``source_id``, ``login``, ``email``, ``display_name``, ``given_name``, ``family_name``,
``active``, ``manager_id`` and ``attributes`` (what the connector kept of the IdP's attributes).
The configured table is laid over the defaults of the target's kind
(:data:`~idpsync.config_attributes.DEFAULTS`); a template set to ``""`` turns a default off.

- SCIM: the key is the attribute's path, core (``title``) or with its schema URN
  (``urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department``, or a custom
  extension's URN). An extension attribute is sent only when the server advertises its schema
  for users (``/ResourceTypes`` ``schemaExtensions``).
- LDAP: the key is the attribute type (``departmentNumber``, ``title``…); the user's object
  classes must allow it (``inetOrgPerson`` does for every default).
- Crowd: the key is the name of a user attribute.

The photo's key (SCIM ``photos``, LDAP ``jpegPhoto``) takes a keyword, not a template
(:mod:`idpsync.config_photos`); photos are delivered by :mod:`idpsync.targets.photo_delivery`.

The **manager** (the key ``manager``, or ``…:manager`` for SCIM) is a reference: its template
gives the manager's *source id* (default ``{{ manager_id }}``), which delivery resolves to the
manager's identity in the target (SCIM ``{"value": id}``, LDAP the DN, Crowd the user name).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from jinja2 import Template

from idpsync.config_attributes import DEFAULTS as DEFAULTS
from idpsync.config_attributes import ENTERPRISE as ENTERPRISE
from idpsync.config_attributes import attribute_table
from idpsync.model import DirUser
from idpsync.templating import compile_template, render


@dataclass(frozen=True, slots=True)
class UserRef:
    """A reference to another user of the target (the manager), by the target's id."""

    remote_id: str


Value = str | UserRef | None
"""A target attribute's value: text, a user reference, or ``None`` (remove the attribute)."""


Held = tuple[str | UserRef, ...]
"""A mapped attribute as the target holds it, read back for a reconcile: its values (a
reference as a :class:`UserRef`), empty when the user does not have the attribute."""


def differs(wanted: Value, held: Held) -> bool:
    """Whether the target holds something else than ``wanted`` (blank and absent are equal)."""
    if wanted is None or wanted == "":
        return any(v != "" for v in held)
    return held != (wanted,)


@runtime_checkable
class AttributeTarget(Protocol):
    """A target that can hold mapped attributes.

    Its ``create_user`` takes them too (``values``): a new user is created with them in the same
    request where the target's API allows it, and its ``list_users`` reads back the ones it can
    (``mapped``) into :attr:`~idpsync.targets.base.RemoteUser.attributes`.
    """

    async def set_attributes(self, remote_id: str, values: Mapping[str, Value]) -> None:
        """Set (or, for ``None``, remove) the given attributes of the user."""


def is_reference(key: str) -> bool:
    """Whether the target attribute ``key`` holds a user reference (the manager)."""
    return key.rsplit(":", 1)[-1] == "manager"


def schema_of(key: str) -> str | None:
    """The schema URN of a SCIM attribute path (``None`` for a core attribute)."""
    return key.rsplit(":", 1)[0] if key.startswith("urn:") else None


def context(user: DirUser) -> dict[str, Any]:
    """The names a target template sees for a directory user (nulls left out)."""
    names = {
        "source_id": user.source_id,
        "login": user.login,
        "email": user.email,
        "display_name": user.display_name,
        "given_name": user.given_name,
        "family_name": user.family_name,
        "active": user.active,
        "manager_id": user.manager_id,
        "attributes": dict(user.attributes),
    }
    return {k: v for k, v in names.items() if v is not None}


@dataclass(frozen=True)
class AttributeMap:
    """The compiled attribute templates of one target."""

    templates: dict[str, Template]
    """Per target attribute."""

    @classmethod
    def build(cls, kind: str, configured: Mapping[str, str]) -> AttributeMap:
        """The defaults of ``kind`` with ``configured`` laid over them (``""`` drops one).

        The photo's key is not a template and is left out
        (:func:`~idpsync.config_attributes.attribute_table`): photos go through
        :mod:`idpsync.targets.photo_delivery`.
        """
        return cls({k: compile_template(v) for k, v in attribute_table(kind, configured).items()})

    def render(self, user: DirUser) -> dict[str, str | None]:
        """Each attribute's text (for a reference: the source id); ``None`` when blank.

        Raises :class:`~idpsync.templating.TemplateProblem` when a template fails for the user.
        """
        ctx = context(user)
        return {key: render(template, ctx) for key, template in self.templates.items()}

    def references(self) -> list[str]:
        """The attributes that hold a user reference."""
        return [key for key in self.templates if is_reference(key)]
