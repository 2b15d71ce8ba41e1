"""The Entra baseline: what a user would write with msgraph-sdk, timed against the emulator.

``python -m benchmarks.entra_baseline --size S --sample 100`` starts ``idpsync emulate entra`` in
its own process with Graph's latency profile (:data:`benchmarks.profiles.PROFILES`), then does
what the SDK's documentation shows: a page iterator over ``/users``, then each user's
``memberOf`` (page iterator again), one user after the other. Reading every user's groups at
0.5 s a call takes hours at size S, so only the first ``--sample`` users are asked and the
memberOf time is extrapolated linearly to all users (the page says so). The result goes to
``docs/benchmarks/baseline-entra-<users>.json`` and into ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from typing import Any

import httpx
from azure.core.credentials import AccessToken
from msgraph import GraphServiceClient
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph_core import GraphClientFactory
from msgraph_core.authentication import AzureIdentityAuthenticationProvider
from msgraph_core.tasks.page_iterator import PageIterator

from benchmarks import process, report
from benchmarks.profiles import PROFILES, SIZES
from benchmarks.run import OUT, ROOT

SCOPES = ["https://graph.microsoft.com/.default"]


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


async def drain(adapter: GraphRequestAdapter, first: Any) -> list[Any]:
    """Every item of a paged collection through the SDK's PageIterator."""
    items: list[Any] = []

    def keep(item: Any) -> bool:
        items.append(item)
        return True

    await PageIterator(first, adapter).iterate(keep)
    return items


async def baseline(emu: process.Emulator, sample: int) -> dict[str, Any]:
    """Users with a page iterator, then memberOf of the first ``sample`` users, timed."""
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
        users = await drain(adapter, await client.users.get())
        users_s = time.perf_counter() - started
        mark = time.perf_counter()
        for user in users[:sample]:
            first = await client.users.by_user_id(user.id).member_of.get()
            await drain(adapter, first)
        member_s = time.perf_counter() - mark
    finally:
        await http.aclose()
    per_user = member_s / max(1, min(sample, len(users)))
    estimate = users_s + per_user * len(users)
    return {
        "users": len(users),
        "users_s": round(users_s, 1),
        "sample": sample,
        "sample_s": round(member_s, 1),
        "estimated_wall_s": round(estimate, 1),
        "cpu_s": round(time.process_time() - cpu, 1),
    }


def main() -> None:
    """Run the baseline and write its result file and the docs page."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.entra_baseline", description=__doc__
    )
    parser.add_argument("--size", default="S", choices=sorted(SIZES))
    parser.add_argument("--sample", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--users", type=int, help="Override the size's user count.")
    parser.add_argument("--groups", type=int, help="Override the size's group count.")
    opts = parser.parse_args()
    users, groups = SIZES[opts.size]
    users, groups = opts.users or users, opts.groups or groups
    emu = process.start_emulator("entra", PROFILES["entra"].emulator_args(users, groups, opts.seed))
    try:
        result = asyncio.run(baseline(emu, opts.sample))
        logged = process.request_log(emu)
    finally:
        emu.stop()
    command = "python -m benchmarks.entra_baseline " + " ".join(sys.argv[1:])
    result |= {
        "size": f"{users} users / {groups} groups",
        "requests_log": logged[0] if logged else None,
        "throttled_log": logged[1] if logged else None,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": command,
    }
    (OUT / f"baseline-entra-{users}.json").write_text(json.dumps(result, indent=1), "utf-8")
    report.write_docs(OUT, ROOT / "docs" / "benchmarks.md")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
