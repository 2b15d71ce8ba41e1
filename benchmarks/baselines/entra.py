"""Entra ID baselines with the official msgraph-sdk (async), against the emulator.

* **naive**: what the SDK's documentation shows: a ``PageIterator`` over ``/users`` (default
  page of 100, every default field), then each user's ``memberOf`` (page iterator again), one
  user after the other, until the time cap.
* **group-sdk**: users (``$top=999``, ``$select``), groups (``$top=999``), then each group's
  ``members`` (``$top=999``, ``$select=id``) through the SDK's page iterator, 16 groups in
  flight; 429s are retried by the SDK's default ``RetryHandler`` middleware (``Retry-After``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from azure.core.credentials import AccessToken
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.groups.groups_request_builder import GroupsRequestBuilder
from msgraph.generated.groups.item.members.members_request_builder import MembersRequestBuilder
from msgraph.generated.models.group import Group
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_service_client import GraphServiceClient
from msgraph_core import GraphClientFactory
from msgraph_core.authentication import AzureIdentityAuthenticationProvider
from msgraph_core.tasks.page_iterator import PageIterator

from benchmarks.baselines.common import CONCURRENCY, Counts, Target, capped, secret, setting

SCOPES = ["https://graph.microsoft.com/.default"]
USER_FIELDS = ["id", "displayName", "userPrincipalName", "mail", "accountEnabled"]


class ClientSecretAtEmulator:
    """An async credential doing the client-credentials grant at the emulator's token URL,
    cached as azure-identity caches it."""

    def __init__(self, token_url: str, client_id: str, client_secret: str) -> None:
        self.form = {"grant_type": "client_credentials", "client_id": client_id}
        self.form |= {"client_secret": client_secret, "scope": SCOPES[0]}
        self.token_url = token_url
        self.token: AccessToken | None = None

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        """The cached token, or a fresh one from the emulator."""
        if self.token is None or self.token.expires_on < time.time() + 300:
            async with httpx.AsyncClient() as http:
                body = (await http.post(self.token_url, data=self.form)).json()
            self.token = AccessToken(body["access_token"], int(time.time()) + body["expires_in"])
        return self.token

    async def close(self) -> None:
        """Nothing to close."""


class OnceAgain(httpx.AsyncHTTPTransport):
    """Sends a GET once more when the connection broke before its answer came (a read error or
    a dropped connection): what a script author adds after the first "Server disconnected" on a
    loaded machine, since the SDK's ``RetryHandler`` retries statuses only."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except (httpx.ReadError, httpx.RemoteProtocolError):
            if request.method != "GET":
                raise
            return await super().handle_async_request(request)


class Graph:
    """A ``GraphServiceClient`` on the emulator and the adapter its page iterators need."""

    def __init__(self, target: Target) -> None:
        credential = ClientSecretAtEmulator(
            setting(target.block, "token_url"),
            setting(target.block, "client_id"),
            secret(target, "client_secret"),
        )
        auth = AzureIdentityAuthenticationProvider(
            credential, scopes=SCOPES, allowed_hosts=["127.0.0.1"]
        )
        # kept to be closed: the SDK's middleware transport does not close the pool it wraps.
        # The SDK's parsing can hold the event loop for seconds; a pooled connection idle that
        # long may be closed by the server as it is reused ("Server disconnected"), so idle
        # connections are dropped after 1 s, and a GET whose connection broke is sent once more
        # (the SDK's RetryHandler retries statuses only).
        self.transport = OnceAgain(
            limits=httpx.Limits(max_connections=CONCURRENCY * 2, keepalive_expiry=1.0)
        )
        self.http = GraphClientFactory.create_with_default_middleware(
            client=httpx.AsyncClient(timeout=300, transport=self.transport)
        )
        self.adapter = GraphRequestAdapter(auth, client=self.http)
        self.adapter.base_url = setting(target.block, "base_url")
        self.client = GraphServiceClient(request_adapter=self.adapter)

    async def aclose(self) -> None:
        """Close the client and the connection pool under the SDK's middleware."""
        await self.http.aclose()
        await self.transport.aclose()

    async def drain(self, first: Any, into: set[str] | None = None) -> list[Any]:
        """Every item of a paged collection, through the SDK's ``PageIterator`` (their ids
        also added to ``into`` as they come, so a capped run says how far it got)."""
        items: list[Any] = []

        def keep(item: Any) -> bool:
            items.append(item)
            if into is not None:
                into.add(item.id)
            return True

        if first is not None:
            await PageIterator(first, self.adapter).iterate(keep)
        return items


async def naive(target: Target, cap_s: float) -> Counts:
    """Users with the SDK's defaults, then each user's ``memberOf``, one after the other."""
    graph, counts = Graph(target), Counts()
    try:
        return await capped(counts, cap_s, _naive(graph, counts))
    finally:
        await graph.aclose()


async def _naive(graph: Graph, counts: Counts) -> None:
    users = await graph.drain(await graph.client.users.get(), into=counts.users)
    counts.visit(len(users), "users")
    for user in users:
        groups = await graph.drain(await graph.client.users.by_user_id(user.id).member_of.get())
        for group in groups:
            if isinstance(group, Group) and group.id and user.id:
                counts.groups.add(group.id)
                counts.edges.add((group.id, user.id))
        counts.one_more()


async def group_sdk(target: Target, cap_s: float) -> Counts:
    """Users and groups at 999 a page, then every group's members, 16 groups in flight."""
    graph, counts = Graph(target), Counts()
    try:
        return await capped(counts, cap_s, _group_sdk(graph, counts))
    finally:
        await graph.aclose()


async def _group_sdk(graph: Graph, counts: Counts) -> None:
    client = graph.client
    users_q = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(top=999, select=USER_FIELDS)
    groups_q = GroupsRequestBuilder.GroupsRequestBuilderGetQueryParameters(
        top=999, select=["id", "displayName"]
    )
    members_q = MembersRequestBuilder.MembersRequestBuilderGetQueryParameters(
        top=999, select=["id"]
    )
    gate = asyncio.Semaphore(CONCURRENCY)

    async def members(gid: str) -> None:
        async with gate:
            first = await client.groups.by_group_id(gid).members.get(
                RequestConfiguration(query_parameters=members_q)
            )
            items = await graph.drain(first)
        counts.edges.update((gid, m.id) for m in items)
        counts.one_more()

    await asyncio.gather(
        graph.drain(
            await client.users.get(RequestConfiguration(query_parameters=users_q)),
            into=counts.users,
        ),
        graph.drain(
            await client.groups.get(RequestConfiguration(query_parameters=groups_q)),
            into=counts.groups,
        ),
    )
    counts.visit(len(counts.groups), "groups")
    await asyncio.gather(*(members(gid) for gid in counts.groups))
