"""Plain-HTTP baselines: httpx async, the straightforward design, for every IdP.

What a competent engineer writes in an afternoon: one token, the user listing and the group
listing (each one cursor chain, at the largest documented page size), then every group's
member listing, 16 requests in flight (Okta: 15, its smallest documented concurrency tier);
a 429 is waited out (``Retry-After``, Okta's ``X-Rate-Limit-Reset``, OneLogin's
``X-RateLimit-Reset``) and retried. No ``$batch``, no partitioned listings, no pacing, no
change feeds. Each stops at its time cap (:func:`benchmarks.baselines.common.capped`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import httpx

from benchmarks.baselines.common import CONCURRENCY, Counts, Plain, Target, capped, secret, setting

OKTA_CONCURRENCY = 15
KEYCLOAK_PAGE = 1000
"""Keycloak documents no largest page; 1,000 is what idpsync itself asks for by default."""


async def _members(counts: Counts, gids: list[str], pages: Any, unit: str = "groups") -> None:
    """Read every group's member pages (``pages(gid)`` yields member ids) into ``counts``."""
    counts.visit(len(gids), unit)

    async def one(gid: str) -> None:
        async for mid in pages(gid):
            counts.edges.add((gid, mid))
        counts.one_more()

    await asyncio.gather(*(one(g) for g in gids))


def _capped(
    read: Callable[[Target, Counts], Coroutine[Any, Any, None]],
) -> Callable[[Target, float], Coroutine[Any, Any, Counts]]:
    """``read(target, counts)`` as a baseline ``(target, cap_s) -> Counts`` stopped at the cap."""

    async def baseline(target: Target, cap_s: float) -> Counts:
        counts = Counts()
        return await capped(counts, cap_s, read(target, counts))

    baseline.__doc__ = read.__doc__
    return baseline


async def _entra(target: Target, counts: Counts) -> None:
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

    async def ids(path: str, params: dict[str, Any], into: set[str]) -> None:
        async for item in chain(f"{base}{path}", params):
            into.add(item["id"])

    try:
        select = "id,displayName,userPrincipalName,mail,accountEnabled"
        await asyncio.gather(
            ids("/users", {"$top": 999, "$select": select}, counts.users),
            ids("/groups", {"$top": 999, "$select": "id,displayName"}, counts.groups),
        )

        async def members(gid: str) -> AsyncIterator[str]:
            url = f"{base}/groups/{gid}/members"
            async for item in chain(url, {"$top": 999, "$select": "id"}):
                yield item["id"]

        await _members(counts, sorted(counts.groups), members)
    finally:
        await client.aclose()


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


async def _google(target: Target, counts: Counts) -> None:
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

    async def ids(path: str, size: int, key: str, into: set[str]) -> None:
        params = {"customer": "my_customer", "maxResults": size}
        async for item in chain(f"{api}{path}", params, key):
            into.add(item["id"])

    try:
        await asyncio.gather(
            ids("/users", 500, "users", counts.users), ids("/groups", 200, "groups", counts.groups)
        )

        async def members(gid: str) -> AsyncIterator[str]:
            url = f"{api}/groups/{gid}/members"
            async for item in chain(url, {"maxResults": 200}, "members"):
                yield item["id"]

        await _members(counts, sorted(counts.groups), members)
    finally:
        await client.aclose()


async def _okta(target: Target, counts: Counts) -> None:
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

    async def ids(path: str, params: dict[str, Any], into: set[str]) -> None:
        async for item in chain(f"{base}/api/v1{path}", params):
            into.add(item["id"])

    try:
        await asyncio.gather(
            ids("/users", {"limit": 200}, counts.users),
            ids("/users", {"limit": 200, "filter": 'status eq "DEPROVISIONED"'}, counts.users),
            ids("/groups", {"limit": 10_000}, counts.groups),
        )

        async def members(gid: str) -> AsyncIterator[str]:
            async for item in chain(f"{base}/api/v1/groups/{gid}/users", {"limit": 1000}):
                yield item["id"]

        await _members(counts, sorted(counts.groups), members)
    finally:
        await client.aclose()


async def _keycloak(target: Target, counts: Counts) -> None:
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

    async def walk(group: dict[str, Any]) -> None:
        counts.groups.add(group["id"])
        subs = group.get("subGroups") or []
        if not subs and group.get("subGroupCount"):
            subs = [g async for g in offsets(f"/groups/{group['id']}/children")]
        await asyncio.gather(*(walk(g) for g in subs))

    try:
        async for user in offsets("/users"):
            counts.users.add(user["id"])
        await asyncio.gather(*[walk(g) async for g in offsets("/groups")])

        async def members(gid: str) -> AsyncIterator[str]:
            async for item in offsets(f"/groups/{gid}/members"):
                yield item["id"]

        await _members(counts, sorted(counts.groups), members)
    finally:
        await client.aclose()


async def _onelogin(target: Target, counts: Counts) -> None:
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

    async def v1_groups() -> None:
        params: dict[str, Any] = {}
        while True:
            body = (await client.get(f"{base}/api/1/groups", params)).json()
            counts.groups.update(str(g["id"]) for g in body.get("data") or [])
            if not (cursor := (body.get("pagination") or {}).get("after_cursor")):
                return
            params = {"after_cursor": cursor}

    async def users() -> None:
        async for u in v2("/users"):
            counts.users.add(str(u["id"]))
            if u.get("group_id"):
                counts.edges.add((str(u["group_id"]), str(u["id"])))

    async def roles() -> set[str]:
        return {f"role:{r['id']}" async for r in v2("/roles")}

    try:
        _, _, role_ids = await asyncio.gather(users(), v1_groups(), roles())
        counts.groups |= role_ids

        async def members(rid: str) -> AsyncIterator[str]:
            async for item in v2(f"/roles/{rid[5:]}/users"):
                yield str(item["id"])

        await _members(counts, sorted(role_ids), members, "roles")
    finally:
        await client.aclose()


entra = _capped(_entra)
google = _capped(_google)
okta = _capped(_okta)
keycloak = _capped(_keycloak)
onelogin = _capped(_onelogin)
