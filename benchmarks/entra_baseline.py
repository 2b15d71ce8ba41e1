"""The Entra baseline: what a user would write with msgraph-sdk, timed against the emulator.

``python -m benchmarks.run --idp entra`` runs it against the same emulator after idpsync's
syncs; ``python -m benchmarks.entra_baseline --size S`` runs it alone (its own emulator, with
Graph's latency profile of :data:`benchmarks.profiles.PROFILES`). It does what the SDK's
documentation shows: a page iterator over ``/users`` (default page of 100, every default
field), then each user's ``memberOf`` (page iterator again), one user after the other. Reading
every user's groups at 0.5 s a call takes hours, so only the first ``--pages`` user pages and
the first ``--sample`` users' ``memberOf`` are timed, and both are extrapolated linearly to the
whole tenant (the page says so). The result goes into ``docs/benchmarks/results-<size>.json``
(``baselines``) and ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import time
from typing import Any

import httpx
from azure.core.credentials import AccessToken
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_service_client import GraphServiceClient
from msgraph_core import GraphClientFactory
from msgraph_core.authentication import AzureIdentityAuthenticationProvider
from msgraph_core.tasks.page_iterator import PageIterator

from benchmarks import process, report
from benchmarks.profiles import PROFILES, SIZES
from benchmarks.run import OUT

SCOPES = ["https://graph.microsoft.com/.default"]
SDK_PAGE = 100
"""Graph's default page of ``/users`` (the SDK sends no ``$top`` unless told)."""


class ClientSecretAtEmulator:
    """An async credential doing the client-credentials grant at the emulator's token URL."""

    def __init__(self, token_url: str, client_id: str, secret: str) -> None:
        self.form = {"grant_type": "client_credentials", "client_id": client_id}
        self.form |= {"client_secret": secret, "scope": SCOPES[0]}
        self.token_url = token_url
        self.token: AccessToken | None = None

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        """The cached token, or a fresh one from the emulator (as azure-identity caches)."""
        if self.token is None or self.token.expires_on < time.time() + 300:
            async with httpx.AsyncClient() as http:
                body = (await http.post(self.token_url, data=self.form)).json()
            expires = int(time.time()) + int(body["expires_in"])
            self.token = AccessToken(body["access_token"], expires)
        return self.token

    async def close(self) -> None:
        """Nothing to close."""


def _setting(block: str, key: str) -> str:
    m = re.search(rf'^{key} = "([^"]*)"', block, re.M)
    if not m:
        raise ValueError(f"no {key} in the printed entra block")
    return m.group(1)


async def drain(adapter: GraphRequestAdapter, first: Any, limit: int | None = None) -> list[Any]:
    """Items of a paged collection through the SDK's PageIterator (at most ``limit``)."""
    items: list[Any] = []

    def keep(item: Any) -> bool:
        items.append(item)
        return limit is None or len(items) < limit

    await PageIterator(first, adapter).iterate(keep)
    return items


async def baseline(
    emu: process.Emulator, users_total: int, sample: int, pages: int
) -> dict[str, Any]:
    """Time ``pages`` user pages and ``sample`` users' memberOf; extrapolate to the tenant."""
    block = emu.block
    credential = ClientSecretAtEmulator(
        _setting(block, "token_url"),
        _setting(block, "client_id"),
        emu.env["IDPSYNC_EMULATOR_SECRET"],
    )
    auth = AzureIdentityAuthenticationProvider(
        credential, scopes=SCOPES, allowed_hosts=["127.0.0.1"]
    )
    http = GraphClientFactory.create_with_default_middleware(client=httpx.AsyncClient())
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = _setting(block, "base_url")
    client = GraphServiceClient(request_adapter=adapter)
    try:
        started, cpu = time.perf_counter(), time.process_time()
        users = await drain(adapter, await client.users.get(), pages * SDK_PAGE)
        users_s = time.perf_counter() - started
        mark = time.perf_counter()
        for user in users[:sample]:
            first = await client.users.by_user_id(user.id).member_of.get()
            await drain(adapter, first)
        member_s = time.perf_counter() - mark
    finally:
        await http.aclose()
    timed_pages = max(1, math.ceil(len(users) / SDK_PAGE))
    per_page = users_s / timed_pages
    per_user = member_s / max(1, min(sample, len(users)))
    estimate = per_page * math.ceil(users_total / SDK_PAGE) + per_user * users_total
    return {
        "users": users_total,
        "pages": timed_pages,
        "users_s": round(users_s, 1),
        "sample": min(sample, len(users)),
        "sample_s": round(member_s, 1),
        "estimated_wall_s": round(estimate, 1),
        "cpu_s": round(time.process_time() - cpu, 1),
    }


def main() -> None:
    """Run the baseline alone (its own emulator) and merge it into the size's results."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.entra_baseline", description=__doc__
    )
    parser.add_argument("--size", default="S", choices=sorted(SIZES))
    parser.add_argument("--sample", type=int, default=50, help="Users whose memberOf is timed.")
    parser.add_argument("--pages", type=int, default=10, help="User pages timed.")
    parser.add_argument("--seed", type=int, default=7)
    opts = parser.parse_args()
    size = SIZES[opts.size]
    emu = process.start_emulator("entra", PROFILES["entra"].emulator_args(size, opts.seed))
    try:
        result = asyncio.run(baseline(emu, size.users, opts.sample, opts.pages))
        logged = process.request_log(emu)
    finally:
        emu.stop()
    result |= {
        "size": opts.size,
        "requests_log": logged[0] if logged else None,
        "throttled_log": logged[1] if logged else None,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    path = OUT / f"results-{opts.size}.json"
    old = json.loads(path.read_text("utf-8")) if path.exists() else {"size": opts.size}
    bases = [b for b in old.get("baselines", []) if b.get("idp") != "entra"]
    old |= {"baselines": [*bases, {**result, "idp": "entra"}]}
    old.setdefault("rows", [])
    path.write_text(json.dumps(old, indent=1), "utf-8")
    report.write_docs(OUT, OUT.parent / "benchmarks.md")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
