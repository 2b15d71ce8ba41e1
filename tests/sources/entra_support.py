"""An Entra emulator, a connector reading it in-process, and a store: the e2e test bed."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import httpx
from benchmarks.entra_rounds import read_calls

from idpsync.app.runner import RunResult, run_sync
from idpsync.app.single import run_sync_user
from idpsync.config import ConnectorSettings, GuardSettings
from idpsync.config_policy import PolicySettings
from idpsync.emulators.entra import EntraEmulator
from idpsync.http.settings import HttpSettings
from idpsync.model import DirectoryState
from idpsync.sources.entra import http_client as client
from idpsync.sources.entra.reader import EntraSource
from idpsync.sources.entra.settings import EntraSourceSettings
from idpsync.store import Store

SECRET_ENV = "IDPSYNC_TEST_ENTRA_SECRET"
HOST = "http://graph.test"


def source_settings(
    emu: EntraEmulator, version: str = "v1.0", **options: Any
) -> EntraSourceSettings:
    """Settings for the emulator (reached in-process at ``HOST``)."""
    os.environ[SECRET_ENV] = emu.client_secret
    return EntraSourceSettings.model_validate(
        {
            "type": "entra",
            "tenant": emu.tenant.tenant_id,
            "client_id": emu.client_id,
            "client_secret": f"env:{SECRET_ENV}",
            "base_url": f"{HOST}/{version}",
            "token_url": f"{HOST}/{emu.tenant.tenant_id}/oauth2/v2.0/token",
            **options,
        }
    )


@dataclass
class EntraWorld:
    """One emulated tenant synced into one store as connector ``entra``."""

    emu: EntraEmulator
    store: Store
    options: dict[str, Any] = field(default_factory=dict)
    policy: PolicySettings = field(default_factory=PolicySettings)
    version: str = "v1.0"
    name: str = "entra"
    last_source: EntraSource | None = None
    transport: httpx.AsyncBaseTransport | None = None

    def settings(self) -> ConnectorSettings:
        """The connector's settings (lenient guards: tests make large changes)."""
        return ConnectorSettings(
            source=source_settings(self.emu, self.version, **self.options),
            policy=self.policy,
            guard=GuardSettings(max_deactivate_share=1.0, max_snapshot_shrink=1.0),
        )

    def source(self, http: HttpSettings | None = None) -> EntraSource:
        """A fresh source over the emulator's in-process transport."""
        settings = self.settings().source
        assert isinstance(settings, EntraSourceSettings)
        if http is not None:
            settings = settings.model_copy(update={"http": http})
        transport = self.transport or self.emu.transport()
        self.last_source = EntraSource(
            settings, client(settings, transport=transport), policy=self.policy
        )
        return self.last_source

    async def sync(self, mode: str = "auto", http: HttpSettings | None = None) -> RunResult:
        """One run of the connector."""
        source = self.source(http)
        try:
            return await run_sync(self.store, self.name, self.settings(), source, mode=mode)
        finally:
            await source.aclose()

    async def sync_user(self, key: str) -> RunResult:
        """One single-user run."""
        source = self.source()
        try:
            return await run_sync_user(self.store, self.name, self.settings(), source, key)
        finally:
            await source.aclose()

    def directory(self) -> DirectoryState:
        """What the connector owns in the store."""
        with self.store.transaction() as conn:
            return self.store.load_directory(conn, self.name)

    def state(self) -> dict[str, Any]:
        """The connector's saved state."""
        with self.store.transaction() as conn:
            return self.store.connector_state(conn, self.name)


def pages(n: int, size: int = 999) -> int:
    """Requests to list ``n`` objects at ``size`` per page (an empty listing is one page)."""
    return max(1, math.ceil(n / size))


def full_snapshot_requests(
    emu: EntraEmulator,
    *,
    managers: bool,
    photos: bool,
    counted: bool = True,
    batch: bool = True,
    expand: bool = True,
    size: int = 20,
    user_parts: list[int] | None = None,
) -> int:
    """The formula of ``docs/sources/entra.md``, from the emulator's ground truth.

    ``counted``: the user count of ``partition_users = "auto"``. ``user_parts``: the pages of
    each users partition when the users are partitioned (then a count after them), else one
    chain. Without ``batch``: the token, the two delta links and the count, then every page a
    request. With ``batch``: the token, one batch call of the delta links (three: the groups'
    own too) and the count, then the batch calls of the listing rounds
    (:func:`benchmarks.entra_rounds.read_calls`: the users and the groups listing from round 1,
    each listed group's members from the round after the groups page naming it, the groups
    delta partitions' links (50 groups each) and their check, a spare item may wait a round).
    """
    truth = emu.tenant.ground_truth()
    users, groups = len(truth.users), len(truth.groups)
    group_page = 100 if expand else 999
    sizes = [len(truth.groups[gid].members) for gid in emu.tenant.group_ids]
    chains = user_parts if user_parts is not None else [pages(users, 100 if managers else 999)]
    downloads = users if photos else 0
    if batch:
        listed = [
            (
                len(sizes[n : n + group_page]),
                [pages(m) for m in sizes[n : n + group_page] if m >= 20 or not expand],
            )
            for n in range(0, groups, group_page)
        ]
        calls = read_calls(chains, listed, size=size, count_after=int(user_parts is not None))
        return 1 + 1 + calls + downloads
    counts = 2 if user_parts is not None else int(counted)
    member_pages = sum(pages(m) for m in sizes if m >= 20 or not expand)
    return 1 + 2 + counts + downloads + sum(chains) + pages(groups, group_page) + member_pages
