"""How fast the Entra emulator generates and serves a large tenant (in-process, no network).

Usage: python benchmarks/entra_emulator.py [users] [groups]
Prints generation time, memory (max RSS), and the time and request count of a full listing of
users and of every group's members at $top=999, plus one full groups delta round.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time

import httpx

from idpsync.emulators.entra import EntraEmulator


async def drain(client: httpx.AsyncClient, url: str) -> int:
    count, next_url = 0, url
    while next_url:
        body = (await client.get(next_url)).json()
        count += len(body["value"])
        next_url = body.get("@odata.nextLink")
    return count


async def main(users: int, groups: int) -> None:
    start = time.perf_counter()
    emu = EntraEmulator.generate(users=users, groups=groups, seed=7, rate_limit=False)
    edges = sum(len(g.members) for g in emu.tenant.groups.values())
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"generate {users} users, {groups} groups, {edges} memberships: "
        f"{time.perf_counter() - start:.1f} s, max RSS {rss:.0f} MiB"
    )
    headers = {"authorization": f"Bearer {emu.issue_token()}"}
    async with httpx.AsyncClient(
        transport=emu.transport(), base_url="http://graph.test", headers=headers
    ) as client:
        start = time.perf_counter()
        n = await drain(client, "/v1.0/users?$top=999&$select=id,userPrincipalName,displayName")
        print(f"users: {n} in {time.perf_counter() - start:.1f} s, {len(emu.requests)} requests")
        emu.requests.clear()
        start = time.perf_counter()
        total = 0
        for group_id in emu.tenant.group_ids:
            total += await drain(client, f"/v1.0/groups/{group_id}/members?$top=999&$select=id")
        print(
            f"members: {total} in {time.perf_counter() - start:.1f} s, {len(emu.requests)} requests"
        )
        emu.requests.clear()
        start = time.perf_counter()
        body: dict[str, object] = {"@odata.nextLink": "/v1.0/groups/delta?$select=members"}
        while "@odata.nextLink" in body:
            body = (await client.get(str(body["@odata.nextLink"]))).json()
        print(f"groups delta: {time.perf_counter() - start:.1f} s, {len(emu.requests)} pages")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    asyncio.run(main(*(args or [100_000, 5_000])))
