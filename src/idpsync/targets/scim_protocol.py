"""SCIM 2.0 protocol logic without I/O: payloads, patches, filters, pages, errors, profiles.

The models come from ``scim2-models`` (RFC 7643); what is sent is the model's SCIM
serialisation. :mod:`idpsync.targets.scim` sends these requests (declared in
:mod:`idpsync.targets.scim_endpoints`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import ValidationError
from scim2_models import Context, Email, Error, Group, Name, User

from idpsync.photos import Photo, digest
from idpsync.targets.attributes import UserRef, Value, schema_of
from idpsync.targets.base import FOREIGN_PHOTO, Member, RemoteGroup, RemoteUser

PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SCIM_MEDIA_TYPE = "application/scim+json"


@dataclass(frozen=True, slots=True)
class ScimProfile:
    """A SCIM server's quirks, as data (no ``if server == …`` in the code)."""

    name: str
    """Profile name, as in the configuration."""
    max_page: int | None
    """Largest ``count`` the server honours (``None``: no limit known)."""
    rename_groups: bool
    """Whether ``displayName`` of a group can be changed; else rename = re-create."""
    real_delete: bool
    """Whether ``DELETE /Users/{id}`` deletes; else users are always deactivated by PATCH."""
    user_filters: tuple[str, ...]
    """Attributes a ``/Users`` filter may use, in lookup order (one ``eq`` at a time)."""
    group_filters: tuple[str, ...]
    """Attributes a ``/Groups`` filter may use, in lookup order."""
    etags: bool
    """Whether to send ``If-Match`` with versions the server gave (if it gave any)."""


GENERIC = ScimProfile(
    "generic",
    None,
    True,
    True,
    ("externalId", "userName", "emails.value"),
    ("externalId", "displayName"),
    True,
)
ATLASSIAN = ScimProfile(
    "atlassian", 100, False, False, ("externalId", "userName"), ("displayName",), False
)
"""Atlassian Cloud user provisioning: DELETE only deactivates (and then hides the user), a
group name taken in the organisation gives 409, synced groups cannot be renamed, one ``eq``
filter on ``userName``/``externalId`` (groups: ``displayName``), at most 100 per page."""
PROFILES = {p.name: p for p in (GENERIC, ATLASSIAN)}


def eq_filter(attribute: str, value: str) -> str:
    """``attribute eq "value"`` with the value's quotes and backslashes escaped."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{attribute} eq "{escaped}"'


def user_payload(source_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The body of ``POST /Users`` for a directory user."""
    email = fields.get("email")
    user: User[Any] = User(
        user_name=fields["login"],
        external_id=source_id,
        display_name=fields.get("display_name"),
        name=Name(given_name=fields.get("given_name"), family_name=fields.get("family_name"))
        if fields.get("given_name") or fields.get("family_name")
        else None,
        emails=[Email(value=email, type="work", primary=True)] if email else None,
        active=bool(fields.get("active", True)),
    )
    return user.model_dump(scim_ctx=Context.RESOURCE_CREATION_REQUEST)


def group_payload(source_id: str, name: str) -> dict[str, Any]:
    """The body of ``POST /Groups`` for a directory group (members are added by PATCH)."""
    group = Group(display_name=name, external_id=source_id)
    return group.model_dump(scim_ctx=Context.RESOURCE_CREATION_REQUEST)


_USER_PATHS = {
    "login": "userName",
    "display_name": "displayName",
    "given_name": "name.givenName",
    "family_name": "name.familyName",
    "active": "active",
    "external_id": "externalId",
}


def user_patch(changed: Mapping[str, Any], profile: ScimProfile) -> list[dict[str, Any]]:
    """PATCH operations for changed directory fields (unknown fields are skipped)."""
    ops: list[dict[str, Any]] = []
    for key, value in changed.items():
        if key == "login" and profile.name == "atlassian":
            continue  # Atlassian: userName cannot be changed
        if key == "email":
            ops.append(
                {
                    "op": "replace",
                    "path": "emails",
                    "value": [{"value": value, "type": "work", "primary": True}],
                }
                if value
                else {"op": "remove", "path": "emails"}
            )
        elif key in _USER_PATHS:
            path = _USER_PATHS[key]
            ops.append(
                {"op": "replace", "path": path, "value": value}
                if value is not None
                else {"op": "remove", "path": path}
            )
    return ops


def attribute_ops(values: Mapping[str, Value], extensions: frozenset[str]) -> list[dict[str, Any]]:
    """PATCH operations for mapped attributes; those of unadvertised extensions are left out.

    A reference (the manager) becomes ``{"value": <target id>}``; ``None`` removes the path.
    """
    ops: list[dict[str, Any]] = []
    for path, value in values.items():
        schema = schema_of(path)
        if schema is not None and schema not in extensions:
            continue
        if value is None:
            ops.append({"op": "remove", "path": path})
        else:
            sent = {"value": value.remote_id} if isinstance(value, UserRef) else value
            ops.append({"op": "replace", "path": path, "value": sent})
    return ops


def data_uri(photo: Photo) -> str:
    """The photo as an RFC 2397 ``data:`` URI.

    A URI, as ``photos.value`` must be, that needs no server of ours reachable from the target.
    """
    return f"data:{photo.content_type};base64,{base64.b64encode(photo.data).decode('ascii')}"


def photo_ops(photo: Photo | None, kind: str) -> list[dict[str, Any]]:
    """PATCH operations that make ``photos`` hold just ``photo`` (``None``: no photo).

    ``kind`` is the value's ``type`` (``photo`` or ``thumbnail``, RFC 7643 §4.1.2).
    """
    if photo is None:
        return [{"op": "remove", "path": "photos"}]
    return [{"op": "replace", "path": "photos", "value": photo_values(photo, kind)}]


def photo_values(photo: Photo, kind: str) -> list[dict[str, Any]]:
    """``photos`` holding just ``photo``: one primary value of type ``kind``."""
    return [{"value": data_uri(photo), "type": kind, "primary": True}]


def user_extensions(resource_types: Any) -> frozenset[str]:
    """The schema extensions the ``User`` resource type advertises (``/ResourceTypes``)."""
    listed = resource_types.get("Resources") if isinstance(resource_types, dict) else None
    found: set[str] = set()
    for item in listed if isinstance(listed, list) else []:
        if isinstance(item, dict) and item.get("name") == "User":
            for extension in item.get("schemaExtensions") or []:
                if isinstance(extension, dict) and extension.get("schema"):
                    found.add(str(extension["schema"]))
    return frozenset(found)


def member_patches(op: str, members: Sequence[Member], chunk: int) -> list[list[dict[str, Any]]]:
    """Member add/remove operations, ``chunk`` members per request."""
    batches = []
    for start in range(0, len(members), chunk):
        part = members[start : start + chunk]
        if op == "add":
            value = [{"value": rid, "type": kind.capitalize()} for rid, kind in part]
            batches.append([{"op": "add", "path": "members", "value": value}])
        else:
            batches.append(
                [{"op": "remove", "path": f"members[{eq_filter('value', rid)}]"} for rid, _ in part]
            )
    return batches


def patch_body(operations: list[dict[str, Any]]) -> dict[str, Any]:
    """A PatchOp message."""
    return {"schemas": [PATCH_SCHEMA], "Operations": operations}


def parse_user(resource: Mapping[str, Any]) -> RemoteUser:
    """A ``User`` resource (as JSON) → :class:`RemoteUser`."""
    emails = resource.get("emails") or []
    primary = next((e for e in emails if e.get("primary")), emails[0] if emails else None)
    name = resource.get("name") or {}
    return RemoteUser(
        id=str(resource["id"]),
        external_id=resource.get("externalId"),
        fields={
            "login": resource.get("userName"),
            "email": primary.get("value") if primary else None,
            "display_name": resource.get("displayName"),
            "given_name": name.get("givenName"),
            "family_name": name.get("familyName"),
            "active": resource.get("active", True),
        },
    )


def held_photos(resource: Mapping[str, Any]) -> tuple[str, ...]:
    """The digests of a ``User`` resource's ``photos`` values (a ``data:`` URI's bytes).

    A value that carries no bytes (a URL) or cannot be decoded is :data:`FOREIGN_PHOTO`.
    """
    held = []
    for value in resource.get("photos") or []:
        text = value.get("value") if isinstance(value, Mapping) else None
        head, _, data = str(text or "").partition(",")
        try:
            if not (head.startswith("data:") and head.endswith(";base64")):
                raise ValueError(head)
            held.append(digest(base64.b64decode(data, validate=True)))
        except ValueError:
            held.append(FOREIGN_PHOTO)
    return tuple(held)


def parse_group(resource: Mapping[str, Any]) -> RemoteGroup:
    """A ``Group`` resource (as JSON) → :class:`RemoteGroup`."""
    members = frozenset(str(m["value"]) for m in resource.get("members") or [] if m.get("value"))
    return RemoteGroup(
        id=str(resource["id"]),
        external_id=resource.get("externalId"),
        name=str(resource.get("displayName") or ""),
        members=members,
    )


def read_error(response: httpx.Response) -> tuple[str, str | None]:
    """A SCIM error body (RFC 7644 §3.12) → (detail, scimType); other bodies are truncated."""
    try:
        error = Error.model_validate(json.loads(response.content))
    except (ValueError, RecursionError, ValidationError):
        return (response.text[:200].strip() or response.reason_phrase), None
    detail = error.detail or response.reason_phrase
    hint = SCIM_HINTS.get(str(error.scim_type or ""))
    return (f"{detail} ({hint})" if hint else detail), error.scim_type


SCIM_HINTS = {
    "uniqueness": "an object with this unique value exists in the target",
    "invalidFilter": "the server refused the filter; check that the profile matches the server",
    "tooMany": "the server wants smaller requests; lower options.members_per_patch or page_size",
    "mutability": "the server does not allow changing this attribute",
    "invalidValue": "the server refused a value; check the user's data in the IdP",
    "invalidVers": "the object changed in the target meanwhile",
    "noTarget": "the attribute or member to change does not exist",
}
"""What to do about each SCIM error type (RFC 7644 §3.12), added to the server's detail."""


def version_of(headers: Mapping[str, str], body: object) -> str | None:
    """The resource version (weak ETag) an answer carries: its ``ETag``, else ``meta.version``."""
    etag = headers.get("ETag")
    if etag:
        return str(etag)
    meta = body.get("meta") if isinstance(body, dict) else None
    version = meta.get("version") if isinstance(meta, dict) else None
    return str(version) if version else None
