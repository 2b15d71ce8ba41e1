"""OneLogin: groups and roles are listed alongside the users chain when concurrency allows.

Checked from the emulator's request log (with latency injected), never from timings.
"""

from __future__ import annotations

import pytest

from idpsync.emulators import Latency
from idpsync.emulators.onelogin import OneLoginEmulator
from tests.sources.onelogin_support import Clock, connector, full_requests, source

USERS, GROUPS, ROLES = 600, 120, 60


pytestmark = pytest.mark.usefixtures("no_sleep")


def kind(path: str) -> str:
    """``users``, ``side`` (groups and roles listings) or ``other``."""
    if path == "/api/2/users":
        return "users"
    return "side" if path in ("/api/1/groups", "/api/2/roles") else "other"


async def read(concurrency: int) -> list[str]:
    """One full snapshot (groups and roles) at ``concurrency``: the log's kinds, in order."""
    emu = OneLoginEmulator.generate(
        users=USERS, groups=GROUPS, roles=ROLES, seed=3, clock=Clock(), latency=Latency(10)
    )
    cfg = connector(emu, groups_from="both", http={"concurrency": concurrency})
    src = source(emu, cfg)
    snap = await src.snapshot()
    await src.aclose()
    assert snap.complete, snap.incomplete_reasons
    truth = emu.account.truth()
    assert {u.source_id for u in snap.users} == {str(i) for i in truth.users}
    assert len(emu.requests) == full_requests(USERS, GROUPS, ROLES, "both")  # no call more
    return [kind(e.path) for e in emu.requests]


async def test_groups_and_roles_are_listed_while_the_users_chain_runs() -> None:
    log = await read(concurrency=2)
    users = [i for i, k in enumerate(log) if k == "users"]
    side = [i for i, k in enumerate(log) if k == "side"]
    assert len(users) == 12 and len(side) == 3 + 2
    assert users[0] < side[0]  # the first users page goes alone
    assert side[-1] < users[-1]  # every groups and roles page before the users chain ends


async def test_concurrency_one_reads_one_listing_after_the_other() -> None:
    log = await read(concurrency=1)
    users = [i for i, k in enumerate(log) if k == "users"]
    side = [i for i, k in enumerate(log) if k == "side"]
    assert max(side) < min(users)  # groups, roles, then users: as before
