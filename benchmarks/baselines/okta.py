"""Okta baselines with the official ``okta`` SDK (3.x, async), against the emulator.

* **naive**: what the SDK's README shows: ``list_users()`` (API default page of 200, no
  filter, so deprovisioned users are left out), ``PaginationHelper`` cursors to the end, then
  each user's ``list_user_groups``, one user after the other, until the time cap.
* **group-sdk**: ``list_users`` at 200 (and a second listing with
  ``status eq "DEPROVISIONED"``, which the default leaves out), ``list_groups`` at 10,000,
  then each group's ``list_group_users`` at 1,000, 15 groups in flight (Okta's smallest
  documented concurrent-request tier); the SDK retries a 429 itself (``rateLimit.maxRetries``,
  default 2, waiting for ``X-Rate-Limit-Reset``).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from okta.client import Client
from okta.pagination import PaginationHelper

from benchmarks.baselines.common import Counts, Target, capped, secret, setting

CONCURRENCY = 15
"""Okta's smallest documented concurrent-request limit (developer and one-app orgs)."""


def client(target: Target) -> Client:
    """An SDK client on the emulator's org URL with the API token (SSWS)."""
    # The SDK refuses a non-https org URL unless this is set (idp-apis.md §6).
    os.environ["OKTA_TESTING_TESTINGDISABLEHTTPSCHECK"] = "true"
    return Client(
        {"orgUrl": setting(target.block, "base_url"), "token": secret(target, "api_token")}
    )


async def collect(method: Any, into: set[str] | None = None, **kwargs: Any) -> list[Any]:
    """Every page of an SDK list call, following the ``Link`` cursor with ``PaginationHelper``
    (the ids also added to ``into`` page by page, so a capped run says how far it got)."""
    items: list[Any] = []
    after = None
    while True:
        data, response, error = await method(after=after, **kwargs)
        if error is not None:
            raise RuntimeError(f"okta SDK: {error}")
        items += data or []
        if into is not None:
            into.update(x.id for x in data or [])
        after = PaginationHelper.extract_next_cursor(response.headers)
        if not after:
            return items


async def naive(target: Target, cap_s: float) -> Counts:
    """Users with the SDK's defaults, then each user's groups, one user after the other."""
    counts = Counts()
    async with client(target) as okta:  # one aiohttp session, as the SDK recommends
        return await capped(counts, cap_s, _naive(okta, counts))


async def _naive(okta: Client, counts: Counts) -> None:
    users = await collect(okta.list_users, into=counts.users)
    counts.visit(len(users), "users")
    for user in users:
        groups, _, error = await okta.list_user_groups(user.id)
        if error is not None:
            raise RuntimeError(f"okta SDK: {error}")
        for group in groups or []:
            counts.groups.add(group.id)
            counts.edges.add((group.id, user.id))
        counts.one_more()


async def group_sdk(target: Target, cap_s: float) -> Counts:
    """Users (and the deprovisioned), groups, then every group's users, 15 in flight."""
    counts = Counts()
    async with client(target) as okta:  # one aiohttp session, as the SDK recommends
        return await capped(counts, cap_s, _group_sdk(okta, counts))


async def _group_sdk(okta: Client, counts: Counts) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)
    await asyncio.gather(
        collect(okta.list_users, into=counts.users, limit=200),
        collect(okta.list_users, into=counts.users, limit=200, filter='status eq "DEPROVISIONED"'),
        collect(okta.list_groups, into=counts.groups, limit=10_000),
    )
    counts.visit(len(counts.groups), "groups")

    async def members(gid: str) -> None:
        async with gate:
            listed = await collect(okta.list_group_users, group_id=gid, limit=1000)
        counts.edges.update((gid, u.id) for u in listed)
        counts.one_more()

    await asyncio.gather(*(members(gid) for gid in sorted(counts.groups)))
