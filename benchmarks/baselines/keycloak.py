"""Keycloak baselines with python-keycloak (7.x, its async methods), against the emulator.

* **naive**: what the library's README shows: ``get_users({})`` (the library pages at its
  ``PAGE_SIZE`` of 100), then each user's ``get_user_groups``, one user after the other,
  until the time cap.
* **group-sdk**: ``a_get_users`` (brief, paged by the library at 100), ``a_get_groups`` with
  ``full_hierarchy=True`` (the library reads ``/children`` on Keycloak ≥ 23), then each
  group's ``a_get_group_members`` (paged by the library at 100), 16 groups in flight. Keycloak
  has no rate limit; the library does not retry.
"""

from __future__ import annotations

import asyncio
from typing import Any

from keycloak import KeycloakAdmin

from benchmarks.baselines.common import CONCURRENCY, Counts, Target, capped, secret, setting


def admin(target: Target) -> KeycloakAdmin:
    """A ``KeycloakAdmin`` with the emulator's client-credentials service account."""
    return KeycloakAdmin(
        server_url=setting(target.block, "base_url") + "/",
        realm_name=setting(target.block, "realm"),
        client_id=setting(target.block, "client_id"),
        client_secret_key=secret(target, "client_secret"),
    )


async def close(kc: KeycloakAdmin) -> None:
    """Close the library's async connections (admin API and token endpoint)."""
    await kc.connection.aclose()
    await kc.connection.keycloak_openid.connection.aclose()


def walk(groups: list[dict[str, Any]], into: set[str]) -> None:
    """Every group id of a ``subGroups`` tree."""
    for group in groups:
        into.add(group["id"])
        walk(group.get("subGroups") or [], into)


async def naive(target: Target, cap_s: float) -> Counts:
    """Users with the library's defaults, then each user's groups, one user after the other."""
    kc, counts = admin(target), Counts()
    try:
        return await capped(counts, cap_s, _naive(kc, counts))
    finally:
        await close(kc)


async def _naive(kc: KeycloakAdmin, counts: Counts) -> None:
    users = await kc.a_get_users({})
    counts.users = {u["id"] for u in users}
    counts.visit(len(users), "users")
    for user in users:
        for group in await kc.a_get_user_groups(user["id"]):
            counts.groups.add(group["id"])
            counts.edges.add((group["id"], user["id"]))
        counts.one_more()


async def group_sdk(target: Target, cap_s: float) -> Counts:
    """Users, the group tree, then every group's members, 16 groups in flight."""
    kc, counts = admin(target), Counts()
    try:
        return await capped(counts, cap_s, _group_sdk(kc, counts))
    finally:
        await close(kc)


async def _group_sdk(kc: KeycloakAdmin, counts: Counts) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)
    users, groups = await asyncio.gather(
        kc.a_get_users({"briefRepresentation": True}), kc.a_get_groups(full_hierarchy=True)
    )
    counts.users = {u["id"] for u in users}
    walk(groups, counts.groups)
    counts.visit(len(counts.groups), "groups")

    async def members(gid: str) -> None:
        async with gate:
            listed = await kc.a_get_group_members(gid, {"briefRepresentation": True})
        counts.edges.update((gid, u["id"]) for u in listed)
        counts.one_more()

    await asyncio.gather(*(members(gid) for gid in sorted(counts.groups)))
