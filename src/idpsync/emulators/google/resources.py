"""Directory API v1 resources as Google renders them: users, groups, members, etags.

The handlers of :mod:`idpsync.emulators.google.api` answer with these; each takes the
:class:`GoogleTenant` and one of its objects and returns the JSON-able resource.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from typing import Any

from idpsync.emulators.google.tenant import GoogleTenant
from idpsync.emulators.tenant import TenantUser


def etag(*parts: object) -> str:
    """A quoted, stable etag for the given values."""
    return '"' + hashlib.sha1(repr(parts).encode()).hexdigest()[:27] + '"'


def photo_etag(t: GoogleTenant, user: TenantUser) -> str:
    """The etag of a user's photo (changes with the photo)."""
    return etag("photo", user.id, user.photo_version)


def render_user(
    t: GoogleTenant,
    user: TenantUser,
    deleted: str | None = None,
    schemas: Collection[str] | None = None,
) -> dict[str, Any]:
    """A ``admin#directory#user`` resource.

    ``schemas``: the custom schemas to include (``None``: all, as ``projection=full``;
    empty: none, as ``projection=basic``).
    """
    email = t.login(user)
    gid = t.gid(user.id)
    name: dict[str, Any] = {"fullName": user.display_name, "displayName": user.display_name}
    if user.given_name:
        name["givenName"] = user.given_name
    if user.surname:
        name["familyName"] = user.surname
    body: dict[str, Any] = {
        "kind": "admin#directory#user",
        "id": gid,
        "etag": etag(user, user.id in t.archived),
        "primaryEmail": email,
        "name": name,
        "isAdmin": user.id in t.admins,
        "isDelegatedAdmin": False,
        "lastLoginTime": "1970-01-01T00:00:00.000Z",
        "creationTime": user.created.replace("Z", ".000Z"),
        "agreedToTerms": True,
        "suspended": not user.enabled,
        "archived": user.id in t.archived,
        "changePasswordAtNextLogin": False,
        "ipWhitelisted": False,
        "emails": [{"address": email, "primary": True}],
        "customerId": t.customer_id,
        "orgUnitPath": "/",
        "isMailboxSetup": True,
        "isEnrolledIn2Sv": False,
        "isEnforcedIn2Sv": False,
        "includeInGlobalAddressList": True,
    }
    if not user.enabled:
        body["suspensionReason"] = "ADMIN"
    aliases = sorted(a for a, uid in t.aliases.items() if uid == user.id)
    if aliases:
        body["aliases"] = aliases
        body["emails"] += [{"address": a} for a in aliases]
    if user.job_title or user.department or user.cost_center or user.company:
        org = {
            "title": user.job_title,
            "department": user.department,
            "costCenter": user.cost_center,
            "description": user.employee_type,
            "name": user.company,
            "location": user.office,
            "primary": True,
        }
        body["organizations"] = [{k: v for k, v in org.items() if v is not None}]
    manager = t.users.get(user.manager_id or "")
    if manager is not None:
        body["relations"] = [{"value": t.login(manager), "type": "manager"}]
    if user.employee_id:
        body["externalIds"] = [{"value": user.employee_id, "type": "organization"}]
    custom = custom_schemas(user, schemas)
    if custom:
        body["customSchemas"] = custom
    if user.photo_version:
        body["thumbnailPhotoUrl"] = f"https://lh3.googleusercontent.com/a-/{gid}=s96-c"
        body["thumbnailPhotoEtag"] = photo_etag(t, user)
    if deleted:
        body["deletionTime"] = deleted
    return body


def custom_schemas(user: TenantUser, schemas: Collection[str] | None) -> dict[str, dict[str, Any]]:
    """The user's custom fields by schema, as Google nests them.

    A single value as is, a multi-valued field as ``[{"value": …}]``; only the ``schemas``
    asked for (``None``: all).
    """
    return {
        schema: {
            name: [{"value": v} for v in value] if isinstance(value, list) else value
            for name, value in fields.items()
        }
        for schema, fields in user.custom.items()
        if fields and (schemas is None or schema in schemas)
    }


def render_group(t: GoogleTenant, group_id: str) -> dict[str, Any]:
    """A ``admin#directory#group`` resource."""
    group = t.groups[group_id]
    email = t.group_email(group_id)
    body: dict[str, Any] = {
        "kind": "admin#directory#group",
        "id": t.gid(group_id),
        "etag": etag(group_id, group.name, len(group.members)),
        "email": email,
        "name": group.name,
        "directMembersCount": str(len(group.members)),
        "adminCreated": True,
        "nonEditableAliases": [email.replace("@", "@test-google-a.", 1)],
    }
    if group.description:
        body["description"] = group.description
    return body


def render_member(t: GoogleTenant, member_id: str, role: str) -> dict[str, Any]:
    """A ``admin#directory#member`` resource (users, groups, external users, the customer)."""
    body: dict[str, Any] = {"kind": "admin#directory#member", "role": role}
    if member_id in t.users:
        user = t.users[member_id]
        kind, email, gid = "USER", t.login(user), t.gid(member_id)
        body["status"] = "ACTIVE" if user.enabled else "SUSPENDED"
    elif member_id in t.groups:
        kind, email, gid = "GROUP", t.group_email(member_id), t.gid(member_id)
    elif t.others[member_id].kind == "device":
        kind, email, gid = "CUSTOMER", "", t.customer_id
    else:
        kind, gid = "USER", t.gid(member_id)
        email = f"{t.others[member_id].kind.lower()}-{gid}@partner.example"
        body["status"] = "ACTIVE"
    body.update({"etag": etag(member_id, role), "id": gid, "type": kind})
    if email:
        body["email"] = email
    return body
