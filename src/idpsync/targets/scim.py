"""The SCIM 2.0 target: any SCIM service provider, with the Atlassian Cloud profile.

Requests are built by :mod:`idpsync.targets.scim_protocol` and sent through
:class:`~idpsync.targets.transport.TargetHttp` (dry-run, retries, error translation).
Users are matched by ``externalId`` (the directory's source id), then ``userName``, then
e-mail; groups by ``externalId``, then ``displayName``. Versions (ETags) the server returns are
sent back with ``If-Match`` when the profile allows it; a stale one (412) is re-read once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from idpsync.config import TargetOptions
from idpsync.store.store import fold
from idpsync.targets import scim_protocol as proto
from idpsync.targets.base import Member, RemoteGroup, RemoteUser
from idpsync.targets.errors import PreconditionFailed, TargetError
from idpsync.targets.transport import TargetHttp

HEADERS = {"Content-Type": proto.SCIM_MEDIA_TYPE, "Accept": proto.SCIM_MEDIA_TYPE}


class ScimTarget:
    """A SCIM 2.0 server, reached through an injected HTTP client."""

    def __init__(
        self, http: TargetHttp, options: TargetOptions, profile: proto.ScimProfile = proto.GENERIC
    ) -> None:
        self.http = http
        self.options = options
        self.profile = profile
        self.page_size = min(options.page_size, profile.max_page or options.page_size)
        self._versions: dict[str, str] = {}
        self._etags: bool | None = None if profile.etags else False

    async def etags_supported(self) -> bool:
        """Whether ``/ServiceProviderConfig`` announces ETags (asked once, when first needed)."""
        if self._etags is None:
            try:
                config = (await self.http.request("GET", "ServiceProviderConfig")).json()
                self._etags = bool((config.get("etag") or {}).get("supported"))
            except (TargetError, ValueError, AttributeError):
                self._etags = False
        return self._etags

    # -- requests ---------------------------------------------------------------------------

    async def _send(self, method: str, path: str, body: Any = None) -> httpx.Response:
        response = await self.http.request(method, path, json=body, headers=HEADERS)
        version = proto.version_of(response)
        if version:
            resource = response.json() if response.content else {}
            rid = resource.get("id") if isinstance(resource, dict) else None
            self._versions[str(rid or path.rsplit("/", 1)[-1])] = version
        return response

    async def _patch(self, kind: str, remote_id: str, ops: list[dict[str, Any]]) -> None:
        if not ops:
            return
        path = f"{kind}/{remote_id}"
        headers = dict(HEADERS)
        version = self._versions.get(remote_id)
        if version and await self.etags_supported():
            headers["If-Match"] = version
        try:
            response = await self.http.request(
                "PATCH", path, json=proto.patch_body(ops), headers=headers
            )
        except PreconditionFailed:
            await self._send("GET", path)  # refresh the version, then try once more
            headers["If-Match"] = self._versions.get(remote_id, "*")
            response = await self.http.request(
                "PATCH", path, json=proto.patch_body(ops), headers=headers
            )
        if response.headers.get("ETag"):
            self._versions[remote_id] = response.headers["ETag"]

    async def _search(self, kind: str, attribute: str, value: str) -> list[dict[str, Any]]:
        params = {
            "filter": proto.eq_filter(attribute, value),
            "startIndex": 1,
            "count": self.page_size,
        }
        response = await self.http.request("GET", kind, params=params, headers=HEADERS)
        resources, _ = proto.parse_page(response.json())
        return resources

    async def _list_all(self, kind: str) -> list[dict[str, Any]]:
        """Every resource of ``kind``, page by page (1-based ``startIndex``)."""
        resources: list[dict[str, Any]] = []
        seen: set[str] = set()
        start = 1
        while True:
            params = {"startIndex": start, "count": self.page_size}
            response = await self.http.request("GET", kind, params=params, headers=HEADERS)
            page, total = proto.parse_page(response.json())
            fresh = [r for r in page if str(r.get("id")) not in seen]
            if page and not fresh:
                raise TargetError(
                    f"GET {kind}: page at startIndex={start} repeats earlier "
                    "resources; the server's paging is inconsistent"
                )
            seen.update(str(r.get("id")) for r in fresh)
            resources.extend(fresh)
            start += len(page)
            if not page or start > total:
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
            found = [proto.parse_user(r) for r in await self._search("Users", attribute, value)]
            if attribute == "externalId":
                found = [u for u in found if u.external_id == source_id]
            if found:
                return found[0]
        return None

    async def create_user(self, source_id: str, fields: Mapping[str, Any]) -> str:
        """``POST /Users``; returns the new ``id``."""
        response = await self._send("POST", "Users", proto.user_payload(source_id, fields))
        return str(response.json()["id"])

    async def update_user(self, remote_id: str, changed: Mapping[str, Any]) -> str | None:
        """``PATCH /Users/{id}`` replacing the changed attributes (the ``id`` stays)."""
        await self._patch("Users", remote_id, proto.user_patch(changed, self.profile))
        return None

    async def remove_user(self, remote_id: str) -> None:
        """``DELETE`` if configured and the server really deletes; otherwise ``active=false``."""
        if self.options.delete_users and self.profile.real_delete:
            await self._send("DELETE", f"Users/{remote_id}")
        else:
            await self._patch("Users", remote_id, proto.user_patch({"active": False}, self.profile))

    # -- groups -----------------------------------------------------------------------------

    async def find_group(self, source_id: str, name: str) -> RemoteGroup | None:
        """By ``externalId``, then ``displayName`` (case-insensitive)."""
        for attribute in self.profile.group_filters:
            value = source_id if attribute == "externalId" else name
            found = [proto.parse_group(r) for r in await self._search("Groups", attribute, value)]
            if attribute == "externalId":
                found = [g for g in found if g.external_id == source_id]
            else:
                found = [g for g in found if fold(g.name) == fold(name)]
            if found:
                return found[0]
        return None

    async def create_group(self, source_id: str, name: str) -> str:
        """``POST /Groups``; returns the new ``id``."""
        response = await self._send("POST", "Groups", proto.group_payload(source_id, name))
        return str(response.json()["id"])

    async def rename_group(self, remote_id: str, source_id: str, name: str) -> str:
        """PATCH ``displayName``; where renaming is not allowed, re-create and move members."""
        if self.profile.rename_groups:
            await self._patch(
                "Groups", remote_id, [{"op": "replace", "path": "displayName", "value": name}]
            )
            return remote_id
        old = proto.parse_group((await self._send("GET", f"Groups/{remote_id}")).json())
        if fold(old.name) == fold(name):
            return remote_id  # a change of case alone cannot be made by re-creating
        new_id = await self.create_group(source_id, name)
        members = [(m, "user") for m in sorted(old.members)]
        await self.add_members(new_id, members)
        await self.delete_group(remote_id)
        return new_id

    async def delete_group(self, remote_id: str) -> None:
        """``DELETE /Groups/{id}``."""
        await self._send("DELETE", f"Groups/{remote_id}")

    async def add_members(self, remote_id: str, members: Sequence[Member]) -> None:
        """PATCH ``add`` on ``members``, in chunks of ``members_per_patch``."""
        for ops in proto.member_patches("add", members, self.options.members_per_patch):
            await self._patch("Groups", remote_id, ops)

    async def remove_members(self, remote_id: str, members: Sequence[Member]) -> None:
        """PATCH ``remove`` with a ``members[value eq "…"]`` path per member, in chunks."""
        for ops in proto.member_patches("remove", members, self.options.members_per_patch):
            await self._patch("Groups", remote_id, ops)

    # -- reconcile --------------------------------------------------------------------------

    async def list_users(self) -> list[RemoteUser]:
        """Every user, paged."""
        return [proto.parse_user(r) for r in await self._list_all("Users")]

    async def list_groups(self) -> list[RemoteGroup]:
        """Every group with its members, paged."""
        return [proto.parse_group(r) for r in await self._list_all("Groups")]
