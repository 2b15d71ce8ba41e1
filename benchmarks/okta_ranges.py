"""Okta full read: one users chain against ``lastUpdated`` ranges, on the same tenant.

Usage: ``PYTHONPATH=src python -m benchmarks.okta_ranges [users] [groups] [partitions]``

The Okta emulator runs in this process (its latency model, 700 ms a request, and its rate
limits on the wall clock); every user is changed once first, so that the users do not all
share one ``lastUpdated`` (the generated tenants of :mod:`benchmarks.run` do, so there the
ranges never engage). Then two full reads by the source at concurrency 14: the first without
saved bounds (the users chain and the deprovisioned chain), the second with the bounds the
first saved (``partitions`` ranges side by side, then the top range). Printed for each: wall
time of the read, users requests and the span from the first users request to the last users
answer (from the emulator's request log and the source's own timings), and member requests.
Nothing is written to docs.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from pydantic import SecretStr

from idpsync.emulators import Latency
from idpsync.emulators.okta import OktaEmulator
from idpsync.http import HttpClient
from idpsync.sources.okta import http_client
from idpsync.sources.okta.reader import OktaSource
from idpsync.sources.okta.settings import OktaSourceSettings

ORG = "https://acme.okta.test"


def build(emu: OktaEmulator, partitions: int, concurrency: int) -> OktaSource:
    """A source reading ``emu`` in-process."""
    config = OktaSourceSettings(
        type="okta",
        base_url=ORG,
        api_token=SecretStr(emu.api_token),
        user_partitions=partitions,
        org_concurrency=max(15, concurrency),
    )
    http: HttpClient = http_client(
        config, transport=emu.transport(), default_concurrency=concurrency
    )
    return OktaSource(config, http)


async def one_read(emu: OktaEmulator, src: OktaSource, label: str) -> None:
    """One full read, timed, with its request counts."""
    emu.requests.clear()
    users_spans: list[tuple[float, float]] = []
    send = src.http._send
    start = time.perf_counter()

    async def timed(request: Any) -> Any:
        asked = time.perf_counter() - start
        try:
            return await send(request)
        finally:
            if request.target.endpoint.name == "list_users":
                users_spans.append((asked, time.perf_counter() - start))

    src.http._send = timed  # type: ignore[method-assign]
    snap = await src.snapshot()
    wall = time.perf_counter() - start
    users = sum(1 for r in emu.requests if r.path == "/api/v1/users")
    members = sum(1 for r in emu.requests if r.path.endswith("/users") and "groups" in r.path)
    first = min(a for a, _ in users_spans)
    last = max(b for _, b in users_spans)
    print(
        f"{label}: wall {wall:.1f} s, complete {snap.complete}, {len(snap.users)} users; "
        f"users requests {users} ({first:.1f}–{last:.1f} s), member requests {members}, "
        f"all {len(emu.requests)}"
    )


async def main(users: int, groups: int, partitions: int) -> None:
    emu = OktaEmulator.generate(
        users=users, groups=groups, seed=7, medium_every=3, latency=Latency(fixed_ms=700)
    )
    for uid in emu.tenant.user_ids:  # one change each: distinct lastUpdated values
        emu.tenant.update_user(uid, display_name=f"User {uid[:8]}")
    first = build(emu, partitions, 14)
    await one_read(emu, first, "chain (no saved bounds)")
    bounds = dict(first.saved_state or {})
    await first.aclose()
    await asyncio.sleep(61)  # a fresh rate-limit window for the second read
    second = build(emu, partitions, 14)
    second.prior_state = bounds
    await one_read(emu, second, f"ranges ({partitions} + top)")
    await second.aclose()


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:4]]
    defaults = [10_000, 500, 2]
    asyncio.run(main(*(args + defaults[len(args) :])))
