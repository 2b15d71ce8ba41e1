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

from benchmarks.baselines.common import Counts, Deadline, Target, secret, setting

CONCURRENCY = 15
"""Okta's smallest documented concurrent-request limit (developer and one-app orgs)."""


def client(target: Target) -> Client:
    """An SDK client on the emulator's org URL with the API token (SSWS)."""
    # The SDK refuses a non-https org URL unless this is set (idp-apis.md §6).
    os.environ["OKTA_TESTING_TESTINGDISABLEHTTPSCHECK"] = "true"
    return Client(
        {"orgUrl": setting(target.block, "base_url"), "token": secret(target, "api_token")}
    )


async def collect(method: Any, **kwargs: Any) -> list[Any]:
    """Every page of an SDK list call, following the ``Link`` cursor with ``PaginationHelper``."""
    items: list[Any] = []
    after = None
    while True:
        data, response, error = await method(after=after, **kwargs)
        if error is not None:
            raise RuntimeError(f"okta SDK: {error}")
        items += data or []
        after = PaginationHelper.extract_next_cursor(response.headers)
        if not after:
            return items


async def naive(target: Target, cap_s: float) -> Counts:
    """Users with the SDK's defaults, then each user's groups, one user after the other."""
    async with client(target) as okta:  # one aiohttp session, as the SDK recommends
        return await _naive(okta, Deadline(cap_s))


async def _naive(okta: Client, deadline: Deadline) -> Counts:
    counts = Counts(visited=0)
    users = await collect(okta.list_users)
    counts.users = {u.id for u in users}
    for user in users:
        if deadline.over():
            counts.stopped = True
            break
        groups, _, error = await okta.list_user_groups(user.id)
        if error is not None:
            raise RuntimeError(f"okta SDK: {error}")
        for group in groups or []:
            counts.groups.add(group.id)
            counts.edges.add((group.id, user.id))
        counts.visited = (counts.visited or 0) + 1
    return counts


async def group_sdk(target: Target, cap_s: float) -> Counts:
    """Users (and the deprovisioned), groups, then every group's users, 15 in flight."""
    async with client(target) as okta:  # one aiohttp session, as the SDK recommends
        return await _group_sdk(okta)


async def _group_sdk(okta: Client) -> Counts:
    counts = Counts()
    gate = asyncio.Semaphore(CONCURRENCY)
    active, gone, groups = await asyncio.gather(
        collect(okta.list_users, limit=200),
        collect(okta.list_users, limit=200, filter='status eq "DEPROVISIONED"'),
        collect(okta.list_groups, limit=10_000),
    )
    counts.users = {u.id for u in [*active, *gone]}
    counts.groups = {g.id for g in groups}

    async def members(gid: str) -> None:
        async with gate:
            listed = await collect(okta.list_group_users, group_id=gid, limit=1000)
        counts.edges.update((gid, u.id) for u in listed)

    await asyncio.gather(*(members(gid) for gid in sorted(counts.groups)))
    return counts
