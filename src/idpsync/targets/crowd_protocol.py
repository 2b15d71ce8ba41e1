"""Crowd REST (``/rest/usermanagement/1``) protocol logic without I/O.

Bodies use Crowd's hyphenated JSON keys. :mod:`idpsync.targets.crowd` sends these requests
(declared in :mod:`idpsync.targets.crowd_endpoints`).

Sample user (``GET /user?username=ada&expand=attributes``)::

    {"name": "ada", "first-name": "Ada", "last-name": "Lovelace", "display-name": "Ada L",
     "email": "ada@example.org", "active": true, "key": "32769:…",
     "attributes": {"attributes": [{"name": "idpsync-source-id", "values": ["u0"]}]}}

Sample membership graph (``GET /group/membership``, XML only)::

    <memberships><membership group="eng"><users><user name="ada"/></users>
    <groups><group name="eng-leads"/></groups></membership></memberships>
"""

from __future__ import annotations

import json
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from idpsync.targets.attributes import Held, UserRef, is_reference
from idpsync.targets.base import RemoteUser

API_PATH = "rest/usermanagement/1"
JSON_HEADERS = {"Accept": "application/json", "Content-Type": "application/json"}
XML_ACCEPT = {"Accept": "application/xml"}

_FIELD_KEYS = {
    "email": "email",
    "display_name": "display-name",
    "given_name": "first-name",
    "family_name": "last-name",
}
"""Directory field → Crowd user key."""


def user_body(name: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The full user representation (``PUT /user`` blanks whatever is left out)."""
    body: dict[str, Any] = {"name": name, "active": bool(fields.get("active", True))}
    for field, crowd_key in _FIELD_KEYS.items():
        body[crowd_key] = fields.get(field) or ""
    if not body["display-name"]:
        body["display-name"] = " ".join(
            p for p in (body["first-name"], body["last-name"]) if p
        ) or str(name)
    return body


def new_user_body(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``POST /user``: the full user with a long random password (sign-in is by SSO)."""
    body = user_body(str(fields["login"]), fields)
    body["password"] = {"value": secrets.token_urlsafe(32)}
    return body


def attribute_body(name: str, values: list[str]) -> dict[str, Any]:
    """``POST /user/attribute``: one attribute with its values."""
    return {"attributes": [{"name": name, "values": values}]}


def attributes_of(resource: Mapping[str, Any]) -> dict[str, list[str]]:
    """Attributes of a user, accepting both ``{"attributes": [...]}`` and ``"attribute"``."""
    raw = resource.get("attributes") or {}
    items = (
        (raw.get("attributes") or raw.get("attribute") or []) if isinstance(raw, Mapping) else raw
    )
    return {str(a["name"]): [str(v) for v in a.get("values") or []] for a in items if "name" in a}


def parse_user(
    resource: Mapping[str, Any], source_attribute: str, mapped: Sequence[str] = ()
) -> RemoteUser:
    """A Crowd user → :class:`RemoteUser` (the remote id is the user name).

    The ``mapped`` attributes are kept (the source-id attribute is never one); a reference
    (``manager``) holds user names, the target's ids.
    """
    attributes = attributes_of(resource)
    values = attributes.get(source_attribute) or []
    held: dict[str, Held] = {}
    for key in mapped:
        if key != source_attribute:
            found = attributes.get(key) or []
            held[key] = tuple(UserRef(v) for v in found) if is_reference(key) else tuple(found)
    return RemoteUser(
        id=str(resource["name"]),
        external_id=values[0] if values else None,
        attributes=held if mapped else None,
        fields={
            "login": resource.get("name"),
            "email": resource.get("email") or None,
            "display_name": resource.get("display-name") or None,
            "given_name": resource.get("first-name") or None,
            "family_name": resource.get("last-name") or None,
            "active": bool(resource.get("active", True)),
        },
    )


def merged_fields(current: RemoteUser, changed: Mapping[str, Any]) -> dict[str, Any]:
    """The user's fields as Crowd holds them, with the changed ones applied."""
    fields = dict(current.fields)
    fields.update({k: v for k, v in changed.items() if k in fields})
    return fields


def names_of(items: list[Any]) -> list[str]:
    """Names of a list's records (the items of ``{"users": [{"name": …}]}`` or ``groups``)."""
    return [str(item["name"]) for item in items if "name" in item]


def parse_memberships(xml: bytes) -> dict[str, set[tuple[str, str]]]:
    """``GET /group/membership`` → ``{group: {(member name, "user"|"group")}}``."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise ValueError(f"GET /group/membership: not the expected XML ({exc})") from exc
    graph: dict[str, set[tuple[str, str]]] = {}
    for membership in root.iter("membership"):
        group = membership.get("group")
        if group is None:
            continue
        members = graph.setdefault(group, set())
        for user in membership.iterfind("users/user"):
            if user.get("name"):
                members.add((str(user.get("name")), "user"))
        for child in membership.iterfind("groups/group"):
            if child.get("name"):
                members.add((str(child.get("name")), "group"))
    return graph


def cql_quote(value: str) -> str:
    """A CQL string literal (quotes and backslashes escaped)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def read_error(response: httpx.Response) -> tuple[str, str | None]:
    """A Crowd error body (JSON or XML ``reason``/``message``) → (message with hint, reason)."""
    reason, message = _reason_and_message(response)
    if reason is None:
        text = response.text[:200].strip() or response.reason_phrase
        return text, None
    hint = CROWD_HINTS.get(reason)
    text = f"{reason}: {message}" + (f" ({hint})" if hint else "")
    return text, reason


def _reason_and_message(response: httpx.Response) -> tuple[str | None, str]:
    content_type = response.headers.get("Content-Type", "")
    try:
        if "json" in content_type:
            body = json.loads(response.content)
            if isinstance(body, dict) and body.get("reason"):
                return str(body["reason"]), str(body.get("message") or "")
        elif "xml" in content_type:
            root = ET.fromstring(response.content)
            reason = root.findtext("reason")
            if reason:
                return reason, root.findtext("message") or ""
    except (ValueError, RecursionError, ET.ParseError):
        pass
    return None, ""


CROWD_HINTS = {
    "APPLICATION_PERMISSION_DENIED": (
        "allow the application to add/modify/remove users, groups and memberships in its "
        "directory mapping"
    ),
    "APPLICATION_ACCESS_DENIED": "check the application's remote addresses in Crowd",
    "INVALID_EMAIL": "Crowd refused the e-mail address; check the user's data in the IdP",
    "INVALID_USER": "the user name is taken or not valid in Crowd",
    "INVALID_GROUP": "the group name is taken or not valid in Crowd",
    "USER_NOT_FOUND": (
        "the user is missing in Crowd (removed there?); 'idpsync deliver NAME --reconcile' "
        "re-creates it"
    ),
    "GROUP_NOT_FOUND": "the group is missing in Crowd (removed there?)",
    "UNSUPPORTED_OPERATION": "the directory does not support this (e.g. nested groups)",
    "OPERATION_FAILED": "Crowd could not complete the operation; see its log",
}
"""What to do about each Crowd ``ErrorReason``, added to the server's message."""
