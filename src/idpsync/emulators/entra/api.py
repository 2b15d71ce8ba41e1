"""Microsoft Graph directory reads (``/v1.0`` and ``/beta``): users, groups, members, photos.

Each handler takes a :class:`Call` and returns a JSON-able dict or a :class:`Binary`; errors are
raised as :class:`~idpsync.emulators.entra.odata.GraphError`. Collections page by an opaque
``$skiptoken`` that holds an offset into a precomputed id list, so a page costs O(page). A
collection page's ``value`` is a :class:`~.texts.Rendered` list of its items' JSON text, made
from texts kept per tenant version (:mod:`.texts`): encode answers with :func:`.texts.dumps`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from idpsync.emulators.entra import render
from idpsync.emulators.entra.odata import (
    GraphError,
    Query,
    compile_filter,
    decode_token,
    encode_token,
    not_found,
    parse_query,
    prefix_of,
)
from idpsync.emulators.entra.texts import ENCODE, Rendered, Texts, with_relation
from idpsync.emulators.tenant import Tenant, TenantUser

DELTA = frozenset({"delta", "delta()", "microsoft.graph.delta", "microsoft.graph.delta()"})
SAFE = "$,()'"
OBJECT_PROPS = render.USER_PROPS | render.GROUP_PROPS
EXPANDABLE = {
    "users": frozenset({"manager", "memberOf"}),
    "groups": frozenset({"members", "memberOf"}),
}
EXPAND_ITEMS = 20
"""``$expand`` of a collection-valued relation returns at most this many items."""
EXPAND_TOP = 100
"""With ``$expand`` a page holds at most this many objects."""
Expansion = tuple[str, tuple[str, ...] | None]


@dataclass(frozen=True, slots=True)
class Binary:
    """A non-JSON answer (a photo)."""

    body: bytes
    content_type: str


@dataclass
class Call:
    """One API request, already split up."""

    tenant: Tenant
    base: str
    """``scheme://host/v1.0`` (or ``/beta``) as the client reached us."""
    segments: list[str]
    """Path after the version, split on ``/`` (percent-decoded)."""
    params: Mapping[str, str]
    headers: Mapping[str, str]
    cache: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    """Filtered id lists and rendered rows, keyed by the tenant's version."""
    texts: Texts = field(default_factory=Texts)
    """Objects' representations and JSON texts of the tenant's version (the emulator's)."""

    @property
    def eventual(self) -> bool:
        """True when the client sent ``ConsistencyLevel: eventual``."""
        return self.headers.get("consistencylevel", "").lower() == "eventual"

    def link(self, extra: Mapping[str, str]) -> str:
        """Absolute link to this path with the original options plus ``extra``."""
        keep = {k: v for k, v in self.params.items() if k not in ("$skiptoken", "$count")}
        keep.update(extra)
        path = "/".join(self.segments)
        query = urlencode(keep, safe=SAFE)
        return f"{self.base}/{path}?{query}"


def page(
    call: Call,
    ids: Sequence[str],
    item: Callable[[str], str | None],
    query: Query,
    context: str,
) -> dict[str, Any]:
    """One page of a collection of ids: ``value``, ``@odata.nextLink``, ``@odata.count``.

    ``item`` gives an object's JSON text (``None``: it vanished, left out).
    """
    offset = int(decode_token(query.skiptoken).get("o", 0)) if query.skiptoken else 0
    chunk = ids[offset : offset + query.top]
    body: dict[str, Any] = {"@odata.context": f"{call.base}/$metadata#{context}"}
    if query.count and query.skiptoken is None:
        body["@odata.count"] = len(ids)
    body["value"] = Rendered(v for v in (item(i) for i in chunk) if v is not None)
    if offset + query.top < len(ids):
        body["@odata.nextLink"] = call.link({"$skiptoken": encode_token({"o": offset + query.top})})
    return body


def parse_expand(call: Call, kind: str) -> Expansion | None:
    """``$expand`` of one relation of :data:`EXPANDABLE`, with ``($select=…)``."""
    raw = call.params.get("$expand", "").strip()
    if not raw:
        return None
    match = re.fullmatch(r"(\w+)(?:\(\$select=([\w,]+)\))?", raw)
    name = match.group(1) if match else raw
    if match is None or name not in EXPANDABLE[kind]:
        raise GraphError(
            400,
            "Request_BadRequest",
            f"Could not find a property named '{name}' on type 'microsoft.graph.{kind[:-1]}'.",
        )
    select = tuple(match.group(2).split(",")) if match.group(2) else None
    return name, select


def add_expansion(
    call: Call, body: dict[str, Any], object_id: str, expansion: Expansion
) -> dict[str, Any]:
    """Add the expanded relation to one rendered object (no key when there is no manager).

    The relation is :func:`expanded_text`'s, so a single object and a page expand alike.
    """
    body.update(json.loads(expanded_text(call, "{}", object_id, expansion)))
    return body


def expanded_text(call: Call, text: str, object_id: str, expansion: Expansion) -> str:
    """An object's JSON ``text`` with the expanded relation, from the version's texts.

    No ``manager`` key when the user has none.
    """
    t, texts = call.tenant, call.texts
    name, select = expansion
    if name == "manager":
        manager_id = t.users[object_id].manager_id
        if manager_id in t.users:
            manager = texts.directory_object(t, manager_id or "", select)
            return with_relation(text, "manager", manager or "null")
        return text
    ids = t.member_list(object_id) if name == "members" else t.direct_groups(object_id)
    return with_relation(text, name, texts.relation(t, ids[:EXPAND_ITEMS], select))


ORDERABLE = {"users": ("displayName", "userPrincipalName"), "groups": ("displayName",)}
CACHED_LISTS = 64
"""Cached filtered lists (a partitioned users listing keeps 44 filters in use at once)."""


def _ordering(call: Call, kind: str, query: Query) -> tuple[str, bool] | None:
    raw = call.params.get("$orderby", "").strip()
    if not raw:
        return None
    name, _, direction = raw.partition(" ")
    if name not in ORDERABLE[kind] or direction.lower() not in ("", "asc", "desc"):
        raise GraphError(400, "Request_UnsupportedQuery", f"Sorting not supported for '{raw}'.")
    if query.filter and not (call.eventual and query.count):
        raise GraphError(
            400,
            "Request_UnsupportedQuery",
            "Sorting with a filter needs $count=true and the ConsistencyLevel: eventual header.",
        )
    return name, direction.lower() == "desc"


def _filtered(call: Call, kind: str, ids: Sequence[str], query: Query) -> Sequence[str]:
    """The ids a filtered and/or ordered listing pages over (cached per tenant version)."""
    order = _ordering(call, kind, query)
    if not query.filter and order is None:
        return ids
    key = (kind, query.filter, order, call.tenant.version, len(ids))
    cached = call.cache.get(key)
    if cached is None:
        rows = _rows(call, kind, ids)
        prefix = prefix_of(query.filter) if query.filter else None
        if prefix is not None and prefix[1]:  # only the objects of that first character
            rows = _by_first(call, kind, ids, prefix[0]).get(prefix[1][0], [])
        if query.filter:
            test = compile_filter(query.filter, advanced_ok=call.eventual and query.count)
            rows = [r for r in rows if test(r[1])]
        if order is not None:
            rows.sort(key=lambda r: str(r[1].get(order[0]) or "").lower(), reverse=order[1])
        cached = [i for i, _ in rows]
        if len(call.cache) >= CACHED_LISTS:
            call.cache.clear()
        call.cache[key] = cached
    return cached


def _rows(call: Call, kind: str, ids: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
    """Every object rendered once per tenant version (partitioned listings filter it often)."""
    key = ("rows", kind, call.tenant.version, len(ids))
    rows: list[tuple[str, dict[str, Any]]] | None = call.cache.get(key)
    if rows is None:
        t = call.tenant
        if kind == "users":
            rows = [(i, call.texts.user(t, i)) for i in ids]
        else:
            rows = [(i, render.group_json(t, t.groups[i])) for i in ids]
        call.cache[key] = rows
    return list(rows)


def _by_first(
    call: Call, kind: str, ids: Sequence[str], name: str
) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """The rendered objects by the first character of ``name`` (lower case), in list order.

    A ``startswith`` filter then tests only the objects that can match: the 44 partitions of
    a users listing (``sources/entra/partitions.py``) no longer scan every user each (at 100k
    users that scan was ≈4 s of CPU in the partitions' first pages, while Graph answers each
    page in its latency). The filter is still applied to the bucket, so the result is the same.
    """
    key = ("first", kind, name, call.tenant.version, len(ids))
    index: dict[str, list[tuple[str, dict[str, Any]]]] | None = call.cache.get(key)
    if index is None:
        index = {}
        for row in _rows(call, kind, ids):
            index.setdefault(str(row[1].get(name) or "").lower()[:1], []).append(row)
        call.cache[key] = index
    return index


def _user(call: Call, key: str) -> TenantUser:
    user = call.tenant.find_user(key)
    if user is None:
        raise not_found(key)
    return user


def list_users(call: Call) -> dict[str, Any]:
    """``GET /users``."""
    t = call.tenant
    query = parse_query(call.params, call.headers, render.USER_PROPS)
    expansion = parse_expand(call, "users")
    if expansion:
        query = replace(query, top=min(query.top, EXPAND_TOP))
    ids = _filtered(call, "users", t.user_ids, query)

    def item(i: str) -> str:
        text = ENCODE(render.project(call.texts.user(t, i), query.select, render.USER_DEFAULT))
        return expanded_text(call, text, i, expansion) if expansion else text

    return page(call, ids, item, query, "users")


def list_groups(call: Call) -> dict[str, Any]:
    """``GET /groups``."""
    t = call.tenant
    query = parse_query(call.params, call.headers, render.GROUP_PROPS)
    expansion = parse_expand(call, "groups")
    if expansion:
        query = replace(query, top=min(query.top, EXPAND_TOP))
    ids = _filtered(call, "groups", t.group_ids, query)

    def item(i: str) -> str:
        body = render.project(render.group_json(t, t.groups[i]), query.select, render.GROUP_DEFAULT)
        text = ENCODE(body)
        return expanded_text(call, text, i, expansion) if expansion else text

    return page(call, ids, item, query, "groups")


def get_user(call: Call, key: str) -> dict[str, Any]:
    """``GET /users/{id | userPrincipalName}``."""
    query = parse_query(call.params, call.headers, render.USER_PROPS)
    user = _user(call, key)
    body = render.project(render.user_json(call.tenant, user), query.select, render.USER_DEFAULT)
    expansion = parse_expand(call, "users")
    if expansion:
        add_expansion(call, body, user.id, expansion)
    return {"@odata.context": f"{call.base}/$metadata#users/$entity", **body}


def get_group(call: Call, key: str) -> dict[str, Any]:
    """``GET /groups/{id}``."""
    query = parse_query(call.params, call.headers, render.GROUP_PROPS)
    group = call.tenant.groups.get(key)
    if group is None:
        raise not_found(key)
    default = render.GROUP_DEFAULT
    body = render.project(render.group_json(call.tenant, group), query.select, default)
    expansion = parse_expand(call, "groups")
    if expansion:
        add_expansion(call, body, group.id, expansion)
    return {"@odata.context": f"{call.base}/$metadata#groups/$entity", **body}


def manager(call: Call, key: str) -> dict[str, Any]:
    """``GET /users/{id}/manager``: a directoryObject, 404 when there is none."""
    user = _user(call, key)
    query = parse_query(call.params, call.headers, render.USER_PROPS)
    if user.manager_id is None or user.manager_id not in call.tenant.users:
        raise not_found("manager")
    body = render.directory_object(call.tenant, user.manager_id, query.select)
    return {"@odata.context": f"{call.base}/$metadata#directoryObjects/$entity", **(body or {})}


def relations(call: Call, owner: str, kind: str, relation: str) -> dict[str, Any]:
    """``members``, ``transitiveMembers``, ``memberOf``, ``transitiveMemberOf`` of an object."""
    t = call.tenant
    if kind == "users":
        object_id = _user(call, owner).id
    elif owner in t.groups:
        object_id = owner
    else:
        raise not_found(owner)
    query = parse_query(call.params, call.headers, OBJECT_PROPS)
    if relation == "members":
        ids: Sequence[str] = t.member_list(object_id)
    elif relation == "transitiveMembers":
        ids = t.transitive_members(object_id)
    elif relation == "memberOf":
        ids = t.direct_groups(object_id)
    else:
        ids = t.transitive_groups(object_id)

    def item(i: str) -> str | None:
        return call.texts.directory_object(t, i, query.select)

    return page(call, ids, item, query, "directoryObjects")


def photo(call: Call, key: str, rest: list[str]) -> dict[str, Any] | Binary:
    """``/photo``, ``/photo/$value``, ``/photos``, ``/photos/{size}[/$value]``."""
    user = _user(call, key)
    if user.photo_version == 0:
        raise GraphError(
            404,
            "ImageNotFound",
            "Exception of type "
            "'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' was thrown.",
        )
    if rest == ["photo"]:
        return {
            "@odata.context": f"{call.base}/$metadata#users('{user.id}')/photo/$entity",
            **render.photo_meta(user),
        }
    if rest == ["photo", "$value"]:
        return Binary(render.photo_bytes(user), render.photo_type(user))
    if rest == ["photos"]:
        return {
            "@odata.context": f"{call.base}/$metadata#users('{user.id}')/photos",
            "value": [render.photo_meta(user, s) for s in render.PHOTO_SIZES],
        }
    size = rest[1].upper().split("X")[0] if len(rest) >= 2 else ""
    if rest[0] != "photos" or not size.isdigit() or int(size) not in render.PHOTO_SIZES:
        raise not_found("/".join(rest))
    if len(rest) == 3 and rest[2] == "$value":
        return Binary(render.photo_bytes(user, int(size)), "image/jpeg")
    return render.photo_meta(user, int(size))


def count(call: Call, kind: str) -> Binary:
    """``GET /users/$count`` and ``/groups/$count`` (need ``ConsistencyLevel: eventual``)."""
    if not call.eventual:
        raise GraphError(400, "Request_BadRequest", "$count is not currently supported.")
    n = len(call.tenant.users if kind == "users" else call.tenant.groups)
    return Binary(str(n).encode(), "text/plain")
