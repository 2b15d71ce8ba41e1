"""Conformance: the official msgraph-sdk, on a real port, reads exactly the emulator's tenant."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from azure.core.credentials import AccessToken
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphServiceClient
from msgraph.generated.groups.delta.delta_request_builder import (
    DeltaRequestBuilder as GroupDeltaBuilder,
)
from msgraph.generated.groups.groups_request_builder import GroupsRequestBuilder
from msgraph.generated.models.device import Device
from msgraph.generated.models.group import Group
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.org_contact import OrgContact
from msgraph.generated.models.service_principal import ServicePrincipal
from msgraph.generated.models.user import User
from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph_core import GraphClientFactory
from msgraph_core.authentication import AzureIdentityAuthenticationProvider
from msgraph_core.tasks.page_iterator import PageIterator

from idpsync.emulators.entra import EntraEmulator
from idpsync.emulators.entra.render import EXTENSION_APP, photo_bytes
from idpsync.emulators.framework import RunningServer

SCOPES = ["https://graph.microsoft.com/.default"]
SDK_TYPES = {
    User: "user",
    Group: "group",
    ServicePrincipal: "servicePrincipal",
    Device: "device",
    OrgContact: "orgContact",
}


class EmulatorCredential:
    """An async token credential that asks the emulator for a token directly."""

    def __init__(self, emulator: EntraEmulator) -> None:
        self.emulator = emulator
        self.calls = 0

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        assert list(scopes) == SCOPES
        self.calls += 1
        return AccessToken(self.emulator.issue_token(), int(time.time()) + 3600)

    async def close(self) -> None:
        return None


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[EntraEmulator, RunningServer]]:
    emulator = EntraEmulator.generate(users=150, groups=25, seed=11)
    with emulator.serve() as server:
        yield emulator, server


@asynccontextmanager
async def graph_client(
    emulator: EntraEmulator, url: str, version: str = "v1.0"
) -> AsyncIterator[tuple[GraphServiceClient, GraphRequestAdapter]]:
    auth = AzureIdentityAuthenticationProvider(
        EmulatorCredential(emulator), scopes=SCOPES, allowed_hosts=["127.0.0.1"]
    )
    # No keep-alive: the SDK's middleware transport does not close pooled connections on aclose.
    plain = httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=0))
    http = GraphClientFactory.create_with_default_middleware(client=plain)
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = f"{url}/{version}"
    try:
        yield GraphServiceClient(request_adapter=adapter), adapter
    finally:
        await http.aclose()


async def collect(first: Any, adapter: GraphRequestAdapter) -> list[Any]:
    items: list[Any] = []

    def keep(item: Any) -> bool:
        items.append(item)
        return True

    await PageIterator(first, adapter).iterate(keep)
    return items


@pytest.mark.parametrize("version", ["v1.0", "beta"])
async def test_sdk_lists_users_with_paging(
    served: tuple[EntraEmulator, RunningServer], version: str
) -> None:
    emulator, server = served
    async with graph_client(emulator, server.url, version) as (client, adapter):
        await _check_users(emulator, server, client, adapter, version)


async def _check_users(
    emulator: EntraEmulator,
    server: RunningServer,
    client: GraphServiceClient,
    adapter: GraphRequestAdapter,
    version: str,
) -> None:
    params = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
        top=40, select=["id", "displayName", "userPrincipalName", "accountEnabled"]
    )
    first = await client.users.get(RequestConfiguration(query_parameters=params))
    assert first is not None and first.odata_next_link is not None
    assert first.odata_next_link.startswith(f"{server.url}/{version}/users?")
    users = await collect(first, adapter)
    truth = emulator.tenant.ground_truth()
    assert {u.id: (u.display_name, u.account_enabled, u.user_principal_name) for u in users} == {
        u.id: (u.display_name, u.enabled, emulator.tenant.login(u)) for u in truth.users.values()
    }
    assert emulator.requests.count(f"/{version}/users") >= 4


async def test_sdk_lists_groups_members_and_transitive_members(
    served: tuple[EntraEmulator, RunningServer],
) -> None:
    emulator, server = served
    async with graph_client(emulator, server.url) as (client, adapter):
        await _check_groups(emulator, client, adapter)


async def _check_groups(
    emulator: EntraEmulator, client: GraphServiceClient, adapter: GraphRequestAdapter
) -> None:
    params = GroupsRequestBuilder.GroupsRequestBuilderGetQueryParameters(top=10)
    groups = await collect(
        await client.groups.get(RequestConfiguration(query_parameters=params)), adapter
    )
    t = emulator.tenant
    assert {g.id: g.display_name for g in groups} == {g.id: g.name for g in t.groups.values()}
    for group_id in t.group_ids:
        members = await collect(await client.groups.by_group_id(group_id).members.get(), adapter)
        assert [m.id for m in members] == list(t.groups[group_id].members)
        assert all(SDK_TYPES[type(m)] == t.kind_of(m.id) for m in members)
    top = next(g.id for g in t.groups.values() if g.name == "Diamond top")
    flat = await collect(await client.groups.by_group_id(top).transitive_members.get(), adapter)
    assert sorted(m.id for m in flat) == sorted(t.transitive_members(top))


async def test_sdk_reads_manager_and_photo(served: tuple[EntraEmulator, RunningServer]) -> None:
    emulator, server = served
    async with graph_client(emulator, server.url) as (client, _):
        await _check_manager_and_photo(emulator, client)


async def _check_manager_and_photo(emulator: EntraEmulator, client: GraphServiceClient) -> None:
    t = emulator.tenant
    user = next(u for u in t.users.values() if u.manager_id and u.photo_version)
    manager = await client.users.by_user_id(user.id).manager.get()
    assert isinstance(manager, User) and manager.id == user.manager_id
    content = await client.users.by_user_id(user.id).photo.content.get()
    assert content == photo_bytes(user)
    root = next(u for u in t.users.values() if u.manager_id is None)
    with pytest.raises(ODataError) as missing:
        await client.users.by_user_id(root.id).manager.get()
    assert missing.value.error is not None
    assert missing.value.error.code == "Request_ResourceNotFound"
    no_photo = next(u for u in t.users.values() if not u.photo_version)
    with pytest.raises(ODataError) as no_image:
        await client.users.by_user_id(no_photo.id).photo.content.get()
    assert no_image.value.error is not None and no_image.value.error.code == "ImageNotFound"


async def test_sdk_reads_a_photo_a_test_set(served: tuple[EntraEmulator, RunningServer]) -> None:
    emulator, server = served
    t = emulator.tenant
    user = next(u for u in t.users.values() if not u.photo_version)
    png = b"\x89PNG\r\n\x1a\n" + b"pixels" * 30
    t.set_photo(user.id, data=base64.b64encode(png).decode(), content_type="image/png")
    async with graph_client(emulator, server.url) as (client, _):
        meta = await client.users.by_user_id(user.id).photo.get()
        content = await client.users.by_user_id(user.id).photo.content.get()
        assert content == png
        assert meta is not None and meta.additional_data["@odata.mediaContentType"] == "image/png"
        etag = meta.additional_data["@odata.mediaEtag"]
        t.set_photo(user.id, data=base64.b64encode(png + b"!").decode(), content_type="image/png")
        changed = await client.users.by_user_id(user.id).photo.get()
        assert changed is not None and changed.additional_data["@odata.mediaEtag"] != etag
        assert await client.users.by_user_id(user.id).photo.content.get() == png + b"!"
    t.set_photo(user.id, present=False)


async def test_sdk_reads_hr_and_extension_properties() -> None:
    emulator = EntraEmulator.generate(users=5, groups=2, seed=3)
    uid = emulator.tenant.user_ids[1]
    emulator.tenant.update_user(
        uid, employee_id="E1", employee_type="Employee", company="Acme", cost_center="CC-1",
        division="R&D", custom={"x": {"badge": "B-1", "extensionAttribute2": "two"}},
    )  # fmt: skip
    badge = f"extension_{EXTENSION_APP}_badge"
    select = ["id", "employeeId", "employeeType", "companyName", "employeeOrgData",
              "onPremisesExtensionAttributes", badge]  # fmt: skip
    query = UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(select=select)
    with emulator.serve() as server:
        async with graph_client(emulator, server.url) as (client, _):
            user = await client.users.by_user_id(uid).get(
                RequestConfiguration(query_parameters=query)
            )
    assert user is not None
    assert (user.employee_id, user.employee_type, user.company_name) == ("E1", "Employee", "Acme")
    assert user.employee_org_data is not None
    assert (user.employee_org_data.division, user.employee_org_data.cost_center) == ("R&D", "CC-1")
    assert user.on_premises_extension_attributes is not None
    assert user.on_premises_extension_attributes.extension_attribute2 == "two"
    assert user.additional_data[badge] == "B-1"


async def test_sdk_follows_a_groups_delta_filtered_by_ids(
    served: tuple[EntraEmulator, RunningServer],
) -> None:
    """The SDK's groups delta with ``$filter=id eq … or …``: the filtered groups, their members
    (``members@delta`` in additional data), the next links and a delta link that keeps the
    filter; an unsupported filter is an ODataError."""
    emulator, server = served
    chosen = emulator.tenant.group_ids[:4]
    query = GroupDeltaBuilder.DeltaRequestBuilderGetQueryParameters(
        filter=" or ".join(f"id eq '{g}'" for g in chosen), select=["displayName", "members"]
    )
    emulator.delta.page_links = 7
    try:
        async with graph_client(emulator, server.url) as (client, _):
            page = await client.groups.delta.get(RequestConfiguration(query_parameters=query))
            members: dict[str, set[str]] = {}
            while page is not None:
                for group in page.value or []:
                    assert group.id is not None
                    found = group.additional_data.get("members@delta", [])
                    members.setdefault(group.id, set()).update(str(m["id"]) for m in found)
                if page.odata_next_link is None:
                    break
                page = await client.groups.delta.with_url(page.odata_next_link).get()
            assert page is not None and page.odata_delta_link
            link = page.odata_delta_link
            later = await client.groups.delta.with_url(link).get()
            wrong = GroupDeltaBuilder.DeltaRequestBuilderGetQueryParameters(
                filter="displayName eq 'x'"
            )
            with pytest.raises(ODataError):
                await client.groups.delta.get(RequestConfiguration(query_parameters=wrong))
    finally:
        emulator.delta.page_links = 500
    truth = emulator.tenant.ground_truth()
    assert members == {g: set(truth.groups[g].members) for g in chosen}
    assert later is not None and later.value == [] and later.odata_delta_link


async def test_sdk_lists_groups_with_their_parents_expanded(
    served: tuple[EntraEmulator, RunningServer],
) -> None:
    """``GET /groups?$expand=memberOf($select=id)``: the SDK pages at most 100 groups a page
    and reads each group's parent groups as ``Group`` objects (the connector's members' side)."""
    emulator, server = served
    params = GroupsRequestBuilder.GroupsRequestBuilderGetQueryParameters(
        top=999, select=["id", "displayName"], expand=["memberOf($select=id)"]
    )
    async with graph_client(emulator, server.url) as (client, adapter):
        first = await client.groups.get(RequestConfiguration(query_parameters=params))
        assert first is not None and first.value is not None
        groups = await collect(first, adapter)
    t = emulator.tenant
    parents = {g.id: sorted(p.id for p in g.member_of or []) for g in groups}
    assert parents == {g: sorted(t.direct_groups(g)[:20]) for g in t.group_ids}
    assert any(parents.values())
    assert all(isinstance(p, Group) for g in groups for p in g.member_of or [])
