"""Mapped SCIM attributes in a ``POST /Users`` body, and read back from a ``User`` resource.

A key is a SCIM attribute path (:mod:`idpsync.targets.attributes`): a core attribute
(``title``, ``name.honorificPrefix``) or a schema URN, ``:`` and the attribute
(``urn:…:enterprise:2.0:User:department``). Attributes of extensions the server does not
advertise for users are never sent nor compared. A path with a value filter
(``addresses[type eq "work"].locality``) cannot be placed in a creation body (it is sent with
``PATCH`` after the create) and is not read back. Sample resource::

    {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                 "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
     "id": "2819c223", "userName": "ada", "title": "Engineer",
     "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
         "department": "R&D", "manager": {"value": "26118915", "displayName": "Boss"}}}
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from idpsync.targets.attributes import Held, UserRef, Value, is_reference, schema_of


def _split(key: str, extensions: frozenset[str]) -> tuple[str | None, list[str]] | None:
    """(schema, attribute path parts) of a key idpsync sends; ``None`` if it is never sent."""
    schema = schema_of(key)
    if schema is not None and schema not in extensions:
        return None
    path = key[len(schema) + 1 :] if schema else key
    return schema, path.split(".")


def with_attributes(
    payload: Mapping[str, Any], values: Mapping[str, Value], extensions: frozenset[str]
) -> tuple[dict[str, Any], dict[str, Value]]:
    """The creation body carrying the set ``values``, and the values it cannot carry.

    An extension's attributes go in its own object, and its URN is added to ``schemas``
    (RFC 7643 §3); a reference becomes ``{"value": <target id>}``.
    """
    body = copy.deepcopy(dict(payload))
    rest: dict[str, Value] = {}
    for key, value in values.items():
        split = _split(key, extensions)
        if value is None or split is None:
            continue
        schema, parts = split
        if "[" in key or len(parts) > 2:
            rest[key] = value  # a filtered or deeper path: PATCH after the create
            continue
        container: Any = body
        if schema is not None:
            container = body.setdefault(schema, {})
            schemas = body.setdefault("schemas", [])
            if schema not in schemas:
                schemas.append(schema)
        if len(parts) == 2 and isinstance(container, dict):
            container = container.setdefault(parts[0], {})
        if not isinstance(container, dict):
            rest[key] = value
            continue
        container[parts[-1]] = {"value": value.remote_id} if isinstance(value, UserRef) else value
    return body, rest


def _get(node: object, name: str) -> object:
    """``node[name]`` compared without case (SCIM attribute names are case-insensitive)."""
    if not isinstance(node, Mapping):
        raise LookupError(name)
    wanted = name.casefold()
    return next((v for k, v in node.items() if str(k).casefold() == wanted), None)


def _held(node: object, reference: bool) -> Held | None:
    """What an attribute's JSON value holds; ``None`` when it cannot be compared."""
    if node is None or node == "":
        return ()
    if reference:
        value = node.get("value") if isinstance(node, Mapping) else None
        return (UserRef(str(value)),) if value else None
    if isinstance(node, bool):
        return ("true" if node else "false",)
    if isinstance(node, (str, int, float)):
        return (str(node),)
    return None


def read_back(
    resource: Mapping[str, Any], keys: Iterable[str], extensions: frozenset[str]
) -> dict[str, Held]:
    """The mapped attributes a ``User`` resource holds, for the keys that can be read back."""
    held: dict[str, Held] = {}
    for key in keys:
        split = _split(key, extensions)
        if split is None or "[" in key:
            continue
        schema, parts = split
        node: object = _get(resource, schema) if schema else resource
        try:
            for part in parts:
                node = None if node is None else _get(node, part)
        except LookupError:
            continue  # a plain value where the path expects an object
        found = _held(node, is_reference(key))
        if found is not None:
            held[key] = found
    return held
