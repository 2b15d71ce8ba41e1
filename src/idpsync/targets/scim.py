"""The SCIM 2.0 target: any SCIM service provider, with the Atlassian Cloud profile.

Requests are built by :mod:`idpsync.targets.scim_protocol`, declared in
:mod:`idpsync.targets.scim_endpoints` and sent through
:class:`~idpsync.targets.client.TargetClient` (dry run, credentials, target errors) over the
shared HTTP client (retries, proxy, TLS).
Users are matched by ``externalId`` (the directory's source id), then ``userName``, then
e-mail; groups by ``externalId``, then ``displayName``. Versions (ETags) the server returns are
sent back with ``If-Match`` when the profile allows it; a stale one (412) is re-read once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import httpx

from idpsync.config import TargetOptions
from idpsync.http.endpoint import Endpoint
from idpsync.http.paging import StartIndex
from idpsync.http.shape import json_object
from idpsync.photos import IMAGE_TYPES, Photo
from idpsync.store.store import fold
from idpsync.targets import scim_protocol as proto
from idpsync.targets.attributes import Value
from idpsync.targets.base import Member, RemoteGroup, RemoteUser
from idpsync.targets.client import TargetClient
from idpsync.targets.errors import PreconditionFailed, TargetError
from idpsync.targets.scim_attributes import read_back, with_attributes
from idpsync.targets.scim_endpoints import (
    GROUPS,
    RESOURCE_TYPES,
    SERVICE_PROVIDER_CONFIG,
    USERS,
    Resource,
)

HEADERS = {"Content-Type": proto.SCIM_MEDIA_TYPE, "Accept": proto.SCIM_MEDIA_TYPE}


class ScimTarget:
    """A SCIM 2.0 server, reached through an injected client."""

    def __init__(
        self,
        http: TargetClient,
        options: TargetOptions,
        profile: proto.ScimProfile = proto.GENERIC,
        photo_type: str = "photo",
    ) -> None:
        self.http = http
        self.options = options
        self.profile = profile
        self.photo_type = photo_type
        """The ``type`` of the ``photos`` value idpsync sends (``photo`` or ``thumbnail``)."""
        self.page_size = min(options.page_size, profile.max_page or options.page_size)
        self._versions: dict[str, str] = {}
        self._etags: bool | None = None if profile.etags else False
        self._extensions: frozenset[str] | None = None

    async def etags_supported(self) -> bool:
        """Whether ``/ServiceProviderConfig`` announces ETags (asked once, when first needed)."""
        if self._etags is None:
            try:
                config = await self.http.read(SERVICE_PROVIDER_CONFIG)
                self._etags = bool((config.get("etag") or {}).get("supported"))
            except (TargetError, ValueError, AttributeError):
                self._etags = False
        return self._etags

    async def user_extensions(self) -> frozenset[str]:
        """The schema extensions users may carry (``/ResourceTypes``, asked once)."""
        if self._extensions is None:
            try:
                self._extensions = proto.user_extensions(await self.http.read(RESOURCE_TYPES))
            except (TargetError, ValueError, AttributeError):
                self._extensions = frozenset()
        return self._extensions

    # -- requests ---------------------------------------------------------------------------

    async def _send(
        self, endpoint: Endpoint, remote_id: str | None = None, body: Any = None
    ) -> tuple[httpx.Response, Any]:
        """Send; remember the version the answer carries; return the answer and its body."""
        values = {"id": remote_id} if remote_id is not None else None
        response = await self.http.send(endpoint, values, json=body, headers=HEADERS)
        wanted = response.content and endpoint.method != "DELETE"  # a DELETE's answer is unused
        resource = self.http.decode(response, endpoint) if wanted else None
        version = proto.version_of(response.headers, resource)
        if version:
            rid = resource.get("id") if isinstance(resource, dict) else None
            self._versions[str(rid or remote_id)] = version
        return response, resource

    async def _patch(self, kind: Resource, remote_id: str, ops: list[dict[str, Any]]) -> None:
        if not ops:
            return
        values = {"id": remote_id}
        headers = dict(HEADERS)
        version = self._versions.get(remote_id)
        if version and await self.etags_supported():
            headers["If-Match"] = version
        try:
            response = await self.http.send(
                kind.patch, values, json=proto.patch_body(ops), headers=headers
            )
        except PreconditionFailed:
            await self._send(kind.read, remote_id)  # refresh the version, then try once more
            headers["If-Match"] = self._versions.get(remote_id, "*")
            response = await self.http.send(
                kind.patch, values, json=proto.patch_body(ops), headers=headers
            )
        if response.headers.get("ETag"):
            self._versions[remote_id] = response.headers["ETag"]

    async def _search(self, kind: Resource, attribute: str, value: str) -> list[dict[str, Any]]:
        params = {
            "filter": proto.eq_filter(attribute, value),
            "startIndex": 1,
            "count": self.page_size,
        }
        return await self.http.records(kind.listing, params=params, headers=HEADERS)

    async def _list_all(self, kind: Resource) -> list[dict[str, Any]]:
        """Every resource of ``kind``, page by page (1-based ``startIndex``)."""
        resources: list[dict[str, Any]] = []
        seen: set[str] = set()
        start = 1
        pages = self.http.pages(kind.listing, paginator=StartIndex(self.page_size), headers=HEADERS)
        async for page in pages:
            fresh = [r for r in page.records if str(r.get("id")) not in seen]
            if page.records and not fresh:
                raise TargetError(
                    f"{kind.listing.label}: page at startIndex={start} repeats earlier "
                    "resources; the server's paging is inconsistent"
                )
            seen.update(str(r.get("id")) for r in fresh)
            resources.extend(fresh)
            start += len(page.records)
        return resources

    # -- users ------------------------------------------------------------------------------

    async def find_user(self, source_id: str, fields: Mapping[str, Any]) -> RemoteUser | None:
        """By ``externalId``, then ``userName``, then e-mail (as far as the profile filters)."""
        values = {
            "externalId": source_id,
            "userName": fields.get("login"),
            "emails.value": fields.get("email"),
        }
        for attribute in self.profile.user_filters:
            value = values.get(attribute)
            if not value:
                continue
            found = [proto.parse_user(r) for r in await self._search(USERS, attribute, value)]
            if attribute == "externalId":
                found = [u for u in found if u.external_id == source_id]
            if found:
                return found[0]
        return None

    async def create_user(
        self,
        source_id: str,
        fields: Mapping[str, Any],
        values: Mapping[str, Value] | None = None,
        photo: Photo | None = None,
    ) -> str:
        """``POST /Users`` with the mapped ``values`` and the ``photo`` in the body; the ``id``.

        A value whose path the body cannot hold (a value filter) follows with ``PATCH``.
        """
        payload, rest = proto.user_payload(source_id, fields), dict[str, Value]()
        if values:
            payload, rest = with_attributes(payload, values, await self.user_extensions())
        if photo is not None:
            payload["photos"] = proto.photo_values(photo, self.photo_type)
        _, body = await self._send(USERS.create, body=payload)
        remote_id = str(json_object(body, USERS.create.label)["id"])
        if rest:
            await self.set_attributes(remote_id, rest)
        return remote_id

    async def update_user(self, remote_id: str, changed: Mapping[str, Any]) -> str | None:
        """``PATCH /Users/{id}`` replacing the changed attributes (the ``id`` stays)."""
        await self._patch(USERS, remote_id, proto.user_patch(changed, self.profile))
        return None

    async def set_attributes(self, remote_id: str, values: Mapping[str, Value]) -> None:
        """``PATCH /Users/{id}`` with the mapped attributes the server's schemas allow."""
        ops = proto.attribute_ops(values, await self.user_extensions())
        await self._patch(USERS, remote_id, ops)

    def photo_types(self) -> frozenset[str]:
        """Any image type: ``photos.value`` is a ``data:`` URI that names its type."""
        return IMAGE_TYPES

    async def set_photo(self, remote_id: str, photo: Photo | None) -> None:
        """``PATCH /Users/{id}``: ``photos`` replaced by the one photo, or removed."""
        await self._patch(USERS, remote_id, proto.photo_ops(photo, self.photo_type))

    async def remove_user(self, remote_id: str) -> None:
        """``DELETE`` if configured and the server really deletes; otherwise ``active=false``."""
        if self.options.delete_users and self.profile.real_delete:
            await self._send(USERS.delete, remote_id)
        else:
            await self._patch(USERS, remote_id, proto.user_patch({"active": False}, self.profile))

    # -- groups -----------------------------------------------------------------------------

    async def find_group(self, source_id: str, name: str) -> RemoteGroup | None:
        """By ``externalId``, then ``displayName`` (case-insensitive)."""
        for attribute in self.profile.group_filters:
            value = source_id if attribute == "externalId" else name
            found = [proto.parse_group(r) for r in await self._search(GROUPS, attribute, value)]
            if attribute == "externalId":
                found = [g for g in found if g.external_id == source_id]
            else:
                found = [g for g in found if fold(g.name) == fold(name)]
            if found:
                return found[0]
        return None

    async def create_group(self, source_id: str, name: str) -> str:
        """``POST /Groups``; returns the new ``id``."""
        _, body = await self._send(GROUPS.create, body=proto.group_payload(source_id, name))
        return str(json_object(body, GROUPS.create.label)["id"])

    async def rename_group(self, remote_id: str, source_id: str, name: str) -> str:
        """PATCH ``displayName``; where renaming is not allowed, re-create and move members."""
        if self.profile.rename_groups:
            await self._patch(
                GROUPS, remote_id, [{"op": "replace", "path": "displayName", "value": name}]
            )
            return remote_id
        _, body = await self._send(GROUPS.read, remote_id)
        old = proto.parse_group(json_object(body, GROUPS.read.label))
        if fold(old.name) == fold(name):
            return remote_id  # a change of case alone cannot be made by re-creating
        new_id = await self.create_group(source_id, name)
        members = [(m, "user") for m in sorted(old.members)]
        await self.add_members(new_id, members)
        await self.delete_group(remote_id)
        return new_id

    async def delete_group(self, remote_id: str) -> None:
        """``DELETE /Groups/{id}``."""
        await self._send(GROUPS.delete, remote_id)

    async def add_members(self, remote_id: str, members: Sequence[Member]) -> None:
        """PATCH ``add`` on ``members``, in chunks of ``members_per_patch``."""
        for ops in proto.member_patches("add", members, self.options.members_per_patch):
            await self._patch(GROUPS, remote_id, ops)

    async def remove_members(self, remote_id: str, members: Sequence[Member]) -> None:
        """PATCH ``remove`` with a ``members[value eq "…"]`` path per member, in chunks."""
        for ops in proto.member_patches("remove", members, self.options.members_per_patch):
            await self._patch(GROUPS, remote_id, ops)

    # -- reconcile --------------------------------------------------------------------------

    async def list_users(
        self, mapped: Sequence[str] = (), photos: bool = False
    ) -> list[RemoteUser]:
        """Every user, paged, with the ``mapped`` attributes that can be read back.

        With ``photos``, also the digests of the ``photos`` values (no request more).
        """
        resources = await self._list_all(USERS)
        users = [proto.parse_user(r) for r in resources]
        if photos:
            held = [proto.held_photos(r) for r in resources]
            users = [replace(u, photos=h) for u, h in zip(users, held, strict=True)]
        if not mapped:
            return users
        extensions = await self.user_extensions()
        return [
            replace(u, attributes=read_back(r, mapped, extensions))
            for u, r in zip(users, resources, strict=True)
        ]

    async def list_groups(self) -> list[RemoteGroup]:
        """Every group with its members, paged."""
        return [proto.parse_group(r) for r in await self._list_all(GROUPS)]
