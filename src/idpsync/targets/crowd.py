"""The Crowd REST target (Atlassian Crowd, and Jira Data Center as a Crowd-style user server).

Requests are built by :mod:`idpsync.targets.crowd_protocol`, declared in
:mod:`idpsync.targets.crowd_endpoints` and sent through
:class:`~idpsync.targets.client.TargetClient` (dry run, credentials, target errors) over the
shared HTTP client (retries, proxy, TLS), with the application's name and password as HTTP
Basic credentials.

- A user's and a group's remote id is its **name** as Crowd holds it; a login change renames
  the user (``POST /user/rename``) and :meth:`CrowdTarget.update_user` returns the new name.
- An update reads the user first and sends the **whole** user with ``PUT``, because Crowd blanks the
  fields a ``PUT /user`` leaves out.
- The directory's source id is kept in a user attribute (``crowd.source_id_attribute``).
- Crowd cannot rename groups: a rename creates the new group, copies the members and deletes
  the old one. Crowd answers duplicates with 400 ``INVALID_USER``/``INVALID_GROUP``; these
  become :class:`~idpsync.targets.errors.Conflict` so delivery adopts the existing object.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from idpsync.config import CrowdOptions, TargetOptions
from idpsync.http.endpoint import Endpoint
from idpsync.photos import Photo
from idpsync.store.store import fold
from idpsync.targets import crowd_endpoints as api
from idpsync.targets import crowd_protocol as proto
from idpsync.targets.attributes import UserRef, Value
from idpsync.targets.base import Member, RemoteGroup, RemoteUser
from idpsync.targets.client import TargetClient
from idpsync.targets.errors import Conflict, NotFound, Rejected, TargetError

_DUPLICATE = {"INVALID_USER", "INVALID_GROUP"}


class CrowdTarget:
    """A Crowd ``/rest/usermanagement/1`` server, reached through an injected client."""

    def __init__(self, http: TargetClient, options: TargetOptions, crowd: CrowdOptions) -> None:
        self.http = http
        self.options = options
        self.crowd = crowd

    async def _send(self, endpoint: Endpoint, body: Any = None, **params: str) -> httpx.Response:
        return await self.http.send(
            endpoint, params=params or None, json=body, headers=proto.JSON_HEADERS
        )

    async def _read(self, endpoint: Endpoint, **params: str) -> Any:
        return await self.http.read(endpoint, params=params, headers=proto.JSON_HEADERS)

    async def _names(self, listing: Endpoint, **params: str) -> list[str]:
        """Every name of a paged list (``start-index``/``max-results``, no total)."""
        names: list[str] = []
        seen: set[str] = set()
        start = 0
        pages = self.http.pages(
            listing,
            paginator=api.paging(self.options.page_size),
            params=params,
            headers=proto.JSON_HEADERS,
        )
        async for page in pages:
            found = proto.names_of(page.records)
            fresh = [n for n in found if n not in seen]
            if found and not fresh:
                raise TargetError(
                    f"{listing.label}: the page at start-index={start} repeats earlier "
                    f"{listing.records}; the server's paging is inconsistent"
                )
            seen.update(fresh)
            names.extend(fresh)
            start += len(page.records)
        return names

    # -- users ------------------------------------------------------------------------------

    async def _get_user(self, name: str, mapped: Sequence[str] = ()) -> RemoteUser:
        body = await self._read(api.GET_USER, username=name, expand="attributes")
        return proto.parse_user(body, self.crowd.source_id_attribute, mapped)

    async def find_user(self, source_id: str, fields: Mapping[str, Any]) -> RemoteUser | None:
        """By user name (case-insensitive in Crowd), then by e-mail (CQL search)."""
        login, email = fields.get("login"), fields.get("email")
        if login:
            try:
                return await self._get_user(str(login))
            except NotFound:
                pass
        if email:
            restriction = f"email={proto.cql_quote(str(email))}"
            params = {"entity-type": "user", "restriction": restriction}
            found = await self.http.records(
                api.SEARCH_USERS, params=params, headers=proto.JSON_HEADERS
            )
            names = proto.names_of(found)
            if names:
                return await self._get_user(names[0])
        return None

    async def create_user(
        self,
        source_id: str,
        fields: Mapping[str, Any],
        values: Mapping[str, Value] | None = None,
        photo: Photo | None = None,
    ) -> str:
        """``POST /user``, then one ``POST /user/attribute``: the source id and ``values``.

        The user is sent whole, with a long random password (people sign in through SSO).

        Crowd's ``POST /user`` does not store attributes (they have their own resource), so a
        new user takes two requests, with or without mapped attributes. Crowd holds no photos:
        delivery never passes one (``photo`` is part of the shared signature only).
        """
        name = str(fields["login"])
        try:
            await self._send(api.CREATE_USER, proto.new_user_body(fields))
        except Rejected as exc:
            if exc.scim_type in _DUPLICATE:
                raise Conflict(str(exc), exc.status, exc.scim_type) from exc
            raise
        await self._set_source_id(name, source_id, self._kept(values or {}))
        return name

    async def _set_source_id(
        self, name: str, source_id: str, others: Mapping[str, str] | None = None
    ) -> None:
        body = proto.attribute_body(self.crowd.source_id_attribute, [source_id])
        body["attributes"] += [{"name": k, "values": [v]} for k, v in (others or {}).items()]
        await self._send(api.SET_ATTRIBUTE, body, username=name)

    def _kept(self, values: Mapping[str, Value]) -> dict[str, str]:
        """The set values this target stores (a reference as the user name; never the source id)."""
        return {
            name: value.remote_id if isinstance(value, UserRef) else value
            for name, value in values.items()
            if value is not None and name != self.crowd.source_id_attribute
        }

    async def update_user(self, remote_id: str, changed: Mapping[str, Any]) -> str | None:
        """Rename if the login changed, then ``PUT`` the whole merged user if it differs.

        Returns the new name after a rename, else ``None``.
        """
        name, renamed = remote_id, None
        if "external_id" in changed:
            await self._set_source_id(name, str(changed["external_id"]))
        rest = {k: v for k, v in changed.items() if k != "external_id"}
        if not rest:
            return None
        current = await self._get_user(name)
        login = rest.get("login")
        if login and fold(str(login)) != fold(str(current.id)):
            body = {"new-name": str(login)}
            try:
                await self._send(api.RENAME_USER, body, username=name)
            except Rejected as exc:
                if exc.scim_type in _DUPLICATE:
                    raise Conflict(str(exc), exc.status, exc.scim_type) from exc
                raise
            name = renamed = str(login)
        merged = proto.merged_fields(current, rest)
        wanted = proto.user_body(name, merged)
        if wanted != proto.user_body(name, current.fields):
            await self._send(api.UPDATE_USER, wanted, username=name)
        return renamed

    async def set_attributes(self, remote_id: str, values: Mapping[str, Value]) -> None:
        """``POST /user/attribute`` with the set values; ``DELETE`` each removed one.

        A reference (the manager) is stored as the manager's user name (their remote id). The
        source-id attribute (``crowd.source_id_attribute``) is never overwritten.
        """
        kept = self._kept(values)
        if kept:
            body = {"attributes": [{"name": k, "values": [v]} for k, v in kept.items()]}
            await self._send(api.SET_ATTRIBUTES, body, username=remote_id)
        removed = (
            k for k, v in values.items() if v is None and k != self.crowd.source_id_attribute
        )
        for name in sorted(removed):
            await self._send(api.DELETE_ATTRIBUTE, username=remote_id, attributename=name)

    async def remove_user(self, remote_id: str) -> None:
        """``DELETE /user`` with ``delete_users``; otherwise the whole user with active=false."""
        if self.options.delete_users:
            await self._send(api.DELETE_USER, username=remote_id)
        else:
            await self.update_user(remote_id, {"active": False})

    # -- groups -----------------------------------------------------------------------------

    async def find_group(self, source_id: str, name: str) -> RemoteGroup | None:
        """``GET /group?groupname=`` (Crowd matches names case-insensitively)."""
        try:
            body = await self._read(api.GET_GROUP, groupname=name)
        except NotFound:
            return None
        return RemoteGroup(id=str(body["name"]), external_id=None, name=str(body["name"]))

    async def create_group(self, source_id: str, name: str) -> str:
        """``POST /group``; a taken name (400 ``INVALID_GROUP``) is a :class:`Conflict`."""
        body = {"name": name, "description": "", "type": "GROUP", "active": True}
        try:
            await self._send(api.CREATE_GROUP, body)
        except Rejected as exc:
            if exc.scim_type in _DUPLICATE:
                raise Conflict(str(exc), exc.status, exc.scim_type) from exc
            raise
        return name

    async def rename_group(self, remote_id: str, source_id: str, name: str) -> str:
        """Crowd cannot rename a group: create the new one, copy members, delete the old."""
        if fold(remote_id) == fold(name):
            return remote_id  # a change of case alone cannot be made by re-creating
        members = await self._group_members(remote_id)
        with contextlib.suppress(Conflict):  # created by an earlier, interrupted attempt
            await self.create_group(source_id, name)
        await self.add_members(name, sorted(members))
        await self.delete_group(remote_id)
        return name

    async def delete_group(self, remote_id: str) -> None:
        """``DELETE /group?groupname=``."""
        await self._send(api.DELETE_GROUP, groupname=remote_id)

    async def add_members(self, remote_id: str, members: Sequence[Member]) -> None:
        """One ``POST /group/{user|child-group}/direct`` per member; 409 (present) is success."""
        for member, kind in members:
            add = api.ADD_GROUP_MEMBER if kind == "group" else api.ADD_USER_MEMBER
            with contextlib.suppress(Conflict):  # MEMBERSHIP_ALREADY_EXISTS: as wanted
                await self._send(add, {"name": member}, groupname=remote_id)

    async def remove_members(self, remote_id: str, members: Sequence[Member]) -> None:
        """``DELETE`` each direct membership; an absent membership or member is success."""
        for member, kind in members:
            if kind == "group":
                remove, params = api.REMOVE_GROUP_MEMBER, {"child-groupname": member}
            else:
                remove, params = api.REMOVE_USER_MEMBER, {"username": member}
            try:
                await self._send(remove, groupname=remote_id, **params)
            except NotFound as exc:
                if exc.scim_type == "GROUP_NOT_FOUND" or (
                    exc.scim_type is None and kind == "group"
                ):
                    raise

    async def _group_members(self, name: str) -> set[Member]:
        users = await self._names(api.USER_MEMBERS, groupname=name)
        try:
            groups = await self._names(api.GROUP_MEMBERS, groupname=name)
        except Rejected:
            groups = []  # the directory does not support nested groups
        return {(u, "user") for u in users} | {(g, "group") for g in groups}

    # -- reconcile --------------------------------------------------------------------------

    async def list_users(
        self, mapped: Sequence[str] = (), photos: bool = False
    ) -> list[RemoteUser]:
        """Every user (``/search``, paged), each read with its attributes (``mapped`` kept).

        Crowd holds no photos: ``photos`` is ignored.
        """
        users: list[RemoteUser] = []
        names = await self._names(api.SEARCH_USERS, **{"entity-type": "user"})
        for name in names:
            users.append(await self._get_user(name, mapped))
        return users

    async def list_groups(self) -> list[RemoteGroup]:
        """Every group with its direct members (``/group/membership`` when offered)."""
        names = await self._names(api.SEARCH_GROUPS, **{"entity-type": "group"})
        graph = await self._membership_graph() if self.crowd.membership_xml else None
        groups = []
        for name in names:
            members = (
                graph.get(name, set()) if graph is not None else await self._group_members(name)
            )
            groups.append(
                RemoteGroup(
                    id=name, external_id=None, name=name, members=frozenset(m for m, _ in members)
                )
            )
        return groups

    async def _membership_graph(self) -> dict[str, set[tuple[str, str]]] | None:
        """The whole graph in one request, or ``None`` when the server does not offer it."""
        try:
            response = await self.http.send(api.MEMBERSHIPS, headers=proto.XML_ACCEPT)
            return proto.parse_memberships(response.content)
        except Rejected:
            return None  # 404/405/406: not offered here (Jira's embedded Crowd, older servers)
        except ValueError:
            return None  # not the XML we know
