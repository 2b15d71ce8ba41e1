"""Graph answers' JSON text, each object rendered once per tenant version and pages joined from it.

A full read at L asks for about a million ``memberOf`` entries (``$expand=memberOf($select=id)``
on 1,000 users pages) naming 5,000 groups, and for each user's manager: rendering each entry
again (the group's whole representation, then projected) made the emulator's own CPU part of
what a benchmark measured, though Graph renders a batch's calls on many servers in its latency
(issue #20). Here each directory object's JSON text is made once per tenant version and
projection, each user's full representation once (shared with the ``$filter`` index of
:mod:`.api`), and a page's ``value`` is a :class:`Rendered` list of item texts that
:func:`dumps` splices in as is. The bytes are those ``json.dumps(…, ensure_ascii=False)`` gave
before. Any change through the tenant's methods (the control API) bumps its ``version``, and
every table here is dropped with it.
"""

from __future__ import annotations

import json
from typing import Any

from idpsync.emulators.entra import render
from idpsync.emulators.tables import StampedTables
from idpsync.emulators.tenant import Tenant

ENCODE = json.JSONEncoder(ensure_ascii=False).encode
"""``json.dumps(value, ensure_ascii=False)`` without building an encoder for every call."""
Select = tuple[str, ...] | None
MISSING = ""
"""A text not made yet (no JSON text is empty)."""


class Rendered(list[str]):
    """A JSON array whose items are JSON text already (see :func:`dumps`)."""


def dumps(value: Any) -> str:
    """``json.dumps(value, ensure_ascii=False)``, each :class:`Rendered` list spliced in as is.

    Only dicts are walked (an answer's envelope and a batch item's); any other value is encoded
    whole, so a page's plain ``value`` list costs what it did.
    """
    if isinstance(value, Rendered):
        return "[" + ", ".join(value) + "]"
    if isinstance(value, dict) and any(isinstance(v, (dict, Rendered)) for v in value.values()):
        return "{" + ", ".join(f"{ENCODE(k)}: {dumps(v)}" for k, v in value.items()) + "}"
    return ENCODE(value)


def with_relation(text: str, name: str, value: str) -> str:
    """An object's JSON ``text`` with one more key ``name`` (JSON ``value``) at its end."""
    head = text[:-1]
    return f"{head}{', ' if head != '{' else ''}{ENCODE(name)}: {value}}}"


class Texts:
    """Per tenant version: users' full representations and directory objects' JSON texts."""

    def __init__(self) -> None:
        self._tables = StampedTables()

    def table(self, tenant: Tenant, key: tuple[Any, ...]) -> dict[str, Any]:
        """The table ``key`` of the tenant's current version (empty after any change)."""
        return self._tables.table((tenant.version, len(tenant.users), len(tenant.groups)), key)

    def user(self, tenant: Tenant, user_id: str) -> dict[str, Any]:
        """The user's every property (:func:`render.user_json`), rendered once a version."""
        users: dict[str, dict[str, Any]] = self.table(tenant, ("user",))
        body = users.get(user_id)
        if body is None:
            body = users[user_id] = render.user_json(tenant, tenant.users[user_id])
        return body

    def directory_object(self, tenant: Tenant, object_id: str, select: Select) -> str | None:
        """:func:`render.directory_object` as JSON text, made once a version and projection."""
        texts: dict[str, str | None] = self.table(tenant, ("object", select))
        text = texts.get(object_id, MISSING)
        return self._object(tenant, texts, object_id, select) if text is MISSING else text

    def relation(self, tenant: Tenant, ids: list[str], select: Select) -> str:
        """A JSON array of directory objects (a vanished one is ``null``, as before)."""
        texts: dict[str, str | None] = self.table(tenant, ("object", select))
        found = [texts.get(i, MISSING) for i in ids]
        if MISSING in found:
            found = [self.directory_object(tenant, i, select) for i in ids]
        return "[" + ", ".join("null" if t is None else t for t in found) + "]"

    def _object(
        self, tenant: Tenant, texts: dict[str, str | None], object_id: str, select: Select
    ) -> str | None:
        body = render.directory_object(tenant, object_id, select, self.user)
        text = None if body is None else ENCODE(body)
        texts[object_id] = text
        return text
