"""Plain-HTTP baselines: httpx async, the straightforward design, for every IdP.

What a competent engineer writes in an afternoon: one token, the user listing and the group
listing (each one cursor chain, at the largest documented page size), then every group's
member listing, 16 requests in flight (Okta: 15, its smallest documented concurrency tier);
a 429 is waited out (``Retry-After``, Okta's ``X-Rate-Limit-Reset``) and retried. No
``$batch``, no partitioned listings, no pacing, no change feeds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx

from benchmarks.baselines.common import CONCURRENCY, Counts, Plain, Target, secret, setting

OKTA_CONCURRENCY = 15
KEYCLOAK_PAGE = 1000
"""Keycloak documents no largest page; 1,000 is what idpsync itself asks for by default."""


async def _members(counts: Counts, gids: list[str], pages: Any) -> None:
    """Read every group's member pages (``pages(gid)`` yields member ids) into ``counts``."""

    async def one(gid: str) -> None:
        async for mid in pages(gid):
            counts.edges.add((gid, mid))

    await asyncio.gather(*(one(g) for g in gids))


async def entra(target: Target, cap_s: float) -> Counts:
    """Graph: users and groups at ``$top=999``, members at 999 with ``$select=id``."""
    base = setting(target.block, "base_url")
    form = {"grant_type": "client_credentials", "scope": "https://graph.microsoft.com/.default"}
    form |= {"client_id": setting(target.block, "client_id")}
    form |= {"client_secret": secret(target, "client_secret")}
    async with httpx.AsyncClient() as http:
        token = (await http.post(setting(target.block, "token_url"), data=form)).json()
    client = Plain(CONCURRENCY, {"Authorization": f"Bearer {token['access_token']}"})

    async def chain(url: str, params: dict[str, Any] | None) -> AsyncIterator[dict[str, Any]]:
        next_url: str | None = url
        while next_url:
            body = (await client.get(next_url, params)).json()
            params = None  # the next link carries the query
            for item in body.get("value", []):
                yield item
            next_url = body.get("@odata.nextLink")

    async def ids(path: str, params: dict[str, Any]) -> set[str]:
        return {item["id"] async for item in chain(f"{base}{path}", params)}

    counts = Counts()
    try:
        select = "id,displayName,userPrincipalName,mail,accountEnabled"
        counts.users, counts.groups = await asyncio.gather(
            ids("/users", {"$top": 999, "$select": select}),
            ids("/groups", {"$top": 999, "$select": "id,displayName"}),
        )

        async def members(gid: str) -> AsyncIterator[str]:
            url = f"{base}/groups/{gid}/members"
            async for item in chain(url, {"$top": 999, "$select": "id"}):
                yield item["id"]

        await _members(counts, sorted(counts.groups), members)
    finally:
        await client.aclose()
    return counts


def google_token(target: Target) -> str:
    """A service-account access token from the emulator (google-auth signs the assertion)."""
    import json

    import requests
    from google.auth.transport.requests import Request
    from google.oauth2 import service_account

    from benchmarks.baselines.google import SCOPES

    info = json.loads(secret(target, "credentials"))
    creds = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
        info, scopes=SCOPES, subject=setting(target.block, "subject")
    )
    with requests.Session() as session:
        creds.refresh(Request(session))
    return str(creds.token)


async def google(target: Target, cap_s: float) -> Counts:
    """Directory API: users at 500, groups at 200, each group's members at 200."""
    api = setting(target.block, "base_url") + "/admin/directory/v1"
    token = await asyncio.to_thread(google_token, target)
    client = Plain(CONCURRENCY, {"Authorization": f"Bearer {token}"})

    async def chain(url: str, params: dict[str, Any], key: str) -> AsyncIterator[dict[str, Any]]:
        while True:
            body = (await client.get(url, params)).json()
            for item in body.get(key, []):
                yield item
            if not body.get("nextPageToken"):
                return
            params = {**params, "pageToken": body["nextPageToken"]}

    async def ids(path: str, size: int, key: str) -> set[str]:
        params = {"customer": "my_customer", "maxResults": size}
        return {item["id"] async for item in chain(f"{api}{path}", params, key)}

    counts = Counts()
    try:
        counts.users, counts.groups = await asyncio.gather(
            ids("/users", 500, "users"), ids("/groups", 200, "groups")
        )

        async def members(gid: str) -> AsyncIterator[str]:
            url = f"{api}/groups/{gid}/members"
            async for item in chain(url, {"maxResults": 200}, "members"):
                yield item["id"]

        await _members(counts, sorted(counts.groups), members)
    finally:
        await client.aclose()
    return counts


async def okta(target: Target, cap_s: float) -> Counts:
    """Okta: users at 200 (and the deprovisioned ones, which the default listing leaves out),
    groups at 10,000, each group's users at 1,000; ``Link: rel="next"`` cursors."""
    base = setting(target.block, "base_url")
    client = Plain(OKTA_CONCURRENCY, {"Authorization": f"SSWS {secret(target, 'api_token')}"})

    async def chain(url: str, params: dict[str, Any] | None) -> AsyncIterator[dict[str, Any]]:
        next_url: str | None = url
        while next_url:
            r = await client.get(next_url, params)
            params = None
            for item in r.json():
                yield item
            next_url = r.links.get("next", {}).get("url")

    async def ids(path: str, params: dict[str, Any]) -> set[str]:
        return {item["id"] async for item in chain(f"{base}/api/v1{path}", params)}

    counts = Counts()
    try:
        active, gone, counts.groups = await asyncio.gather(
            ids("/users", {"limit": 200}),
            ids("/users", {"limit": 200, "filter": 'status eq "DEPROVISIONED"'}),
            ids("/groups", {"limit": 10_000}),
        )
        counts.users = active | gone

        async def members(gid: str) -> AsyncIterator[str]:
            async for item in chain(f"{base}/api/v1/groups/{gid}/users", {"limit": 1000}):
                yield item["id"]

        await _members(counts, sorted(counts.groups), members)
    finally:
        await client.aclose()
    return counts


async def keycloak(target: Target, cap_s: float) -> Counts:
    """Keycloak admin API: brief users and members at 1,000 a page (``first``/``max``), the
    group tree (``subGroups`` inline before 23, ``/children`` from 23 on)."""
    base, realm = setting(target.block, "base_url"), setting(target.block, "realm")
    form = {"grant_type": "client_credentials", "client_id": setting(target.block, "client_id")}
    form["client_secret"] = secret(target, "client_secret")
    url = f"{base}/realms/{realm}/protocol/openid-connect/token"
    async with httpx.AsyncClient() as http:
        token = (await http.post(url, data=form)).json()["access_token"]
    client = Plain(CONCURRENCY, {"Authorization": f"Bearer {token}"})
    admin = f"{base}/admin/realms/{realm}"

    async def offsets(path: str) -> AsyncIterator[dict[str, Any]]:
        first = 0
        while True:
            params = {"briefRepresentation": "true", "first": first, "max": KEYCLOAK_PAGE}
            page = (await client.get(f"{admin}{path}", params)).json()
            for item in page:
                yield item
            if len(page) < KEYCLOAK_PAGE:
                return
            first += KEYCLOAK_PAGE

    counts = Counts()

    async def walk(group: dict[str, Any]) -> None:
        counts.groups.add(group["id"])
        subs = group.get("subGroups") or []
        if not subs and group.get("subGroupCount"):
            subs = [g async for g in offsets(f"/groups/{group['id']}/children")]
        await asyncio.gather(*(walk(g) for g in subs))

    try:
        users = {u["id"] async for u in offsets("/users")}
        counts.users = users
        await asyncio.gather(*[walk(g) async for g in offsets("/groups")])

        async def members(gid: str) -> AsyncIterator[str]:
            async for item in offsets(f"/groups/{gid}/members"):
                yield item["id"]

        await _members(counts, sorted(counts.groups), members)
    finally:
        await client.aclose()
    return counts


async def onelogin(target: Target, cap_s: float) -> Counts:
    """OneLogin: users (v2, 50 a page, with ``group_id``), groups (v1), roles (v2), then every
    role's users (v2); cursors from ``After-Cursor`` / the v1 ``pagination`` block."""
    base = setting(target.block, "base_url")
    auth = (setting(target.block, "client_id"), secret(target, "client_secret"))
    async with httpx.AsyncClient() as http:
        r = await http.post(
            f"{base}/auth/oauth2/v2/token", auth=auth, json={"grant_type": "client_credentials"}
        )
    client = Plain(CONCURRENCY, {"Authorization": f"Bearer {r.json()['access_token']}"})

    async def v2(path: str) -> AsyncIterator[dict[str, Any]]:
        params: dict[str, Any] = {"limit": 50}
        while True:
            r = await client.get(f"{base}/api/2{path}", params)
            for item in r.json():
                yield item
            if not (cursor := r.headers.get("After-Cursor")):
                return
            params = {"limit": 50, "cursor": cursor}

    async def v1_groups() -> set[str]:
        found: set[str] = set()
        params: dict[str, Any] = {}
        while True:
            body = (await client.get(f"{base}/api/1/groups", params)).json()
            found |= {str(g["id"]) for g in body.get("data") or []}
            if not (cursor := (body.get("pagination") or {}).get("after_cursor")):
                return found
            params = {"after_cursor": cursor}

    counts = Counts()

    async def users() -> None:
        async for u in v2("/users"):
            counts.users.add(str(u["id"]))
            if u.get("group_id"):
                counts.edges.add((str(u["group_id"]), str(u["id"])))

    async def roles() -> set[str]:
        return {f"role:{r['id']}" async for r in v2("/roles")}

    try:
        _, groups, role_ids = await asyncio.gather(users(), v1_groups(), roles())
        counts.groups = groups | role_ids

        async def members(rid: str) -> AsyncIterator[str]:
            async for item in v2(f"/roles/{rid[5:]}/users"):
                yield str(item["id"])

        await _members(counts, sorted(role_ids), members)
    finally:
        await client.aclose()
    return counts
