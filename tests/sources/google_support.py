"""Helpers for the Google connector tests: a source wired to an in-process emulator."""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
from pydantic import SecretStr
from starlette.responses import Response

from idpsync.config import ConnectorSettings
from idpsync.emulators.framework import Reply
from idpsync.emulators.google import GoogleEmulator
from idpsync.emulators.google.tenant import GoogleTenant
from idpsync.http.settings import HttpSettings
from idpsync.sources.google import http_client
from idpsync.sources.google.auth import Loader, Saver
from idpsync.sources.google.reader import GoogleSource
from idpsync.sources.google.settings import GoogleSourceSettings

API = "https://admin.googleapis.com"


def sa_settings(emu: GoogleEmulator, **extra: Any) -> GoogleSourceSettings:
    """Service-account settings for the emulator (key JSON as a resolved secret)."""
    key = json.dumps(emu.service_account_info("https://oauth2.googleapis.com/token"))
    return GoogleSourceSettings.model_validate(
        {"type": "google", "credentials": SecretStr(key), "subject": emu.admin_email, **extra}
    )


def oauth_settings(emu: GoogleEmulator, **extra: Any) -> GoogleSourceSettings:
    """OAuth-consent settings for the emulator."""
    return GoogleSourceSettings.model_validate(
        {
            "type": "google",
            "client_id": emu.client_id,
            "client_secret": SecretStr(emu.client_secret),
            **extra,
        }
    )


def source(
    emu: GoogleEmulator,
    settings: GoogleSourceSettings | None = None,
    load: Loader | None = None,
    save: Saver | None = None,
    http: HttpSettings | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> GoogleSource:
    """A GoogleSource talking to ``emu`` in-process, with the budget ``quota`` asks for."""
    settings = (settings or sa_settings(emu)).model_copy(
        update={"base_url": API, "http": http or HttpSettings()}
    )
    client = http_client(
        settings, "gws", load=load, save=save, transport=transport or emu.transport()
    )
    return GoogleSource(settings, client)


def connector(settings: GoogleSourceSettings, **policy: Any) -> ConnectorSettings:
    """Connector settings around a source's settings."""
    return ConnectorSettings(source=settings, policy=policy)  # type: ignore[arg-type]


def rendered_members(t: GoogleTenant, gid: str, derived: bool = False) -> int:
    """How many members Google lists for a group (the customer counts once)."""
    ids = t.transitive_members(gid) if derived else t.member_list(gid)
    devices = sum(1 for m in ids if m in t.others and t.others[m].kind == "device")
    return len(ids) - devices + (1 if devices else 0)


def expected_requests(
    t: GoogleTenant,
    *,
    derived: bool = False,
    tokens: int = 1,
    batch: int = 0,
) -> int:
    """The module docstring's formula, from the emulator's ground truth (``batch``: its size)."""
    users, groups = len(t.users), len(t.groups)
    pages = [max(1, math.ceil(rendered_members(t, g, derived) / 200)) for g in t.groups]
    members = batched_requests(pages, batch) if batch else sum(pages)
    return tokens + math.ceil(users / 500) + math.ceil(groups / 200) + members


def rolling_range(t: GoogleTenant, batch: int = 1000, *, derived: bool = False) -> range:
    """Requests of a full read with batches (:mod:`idpsync.sources.google.chains`): the token
    and the batches, which carry every users, groups and members page as a call. How many
    batches depends on timing (what was ready when a main batch left): from the longest chain
    (or the calls over ``batch``) to one batch a call."""
    pages = [max(1, math.ceil(rendered_members(t, g, derived) / 200)) for g in t.groups]
    users = max(1, math.ceil(len(t.users) / 500))
    calls = users + max(1, math.ceil(len(t.groups) / 200)) + sum(pages)
    low = max(users, max(pages, default=0), math.ceil(calls / batch))
    return range(1 + low, 1 + calls + 1)


def batched_requests(pages: list[int], batch: int) -> int:
    """Batches of the rounds: round ``k`` sends the ``k``-th page of every listing that long."""
    depth = max(pages, default=0)
    return sum(math.ceil(sum(1 for p in pages if p >= k) / batch) for k in range(1, depth + 1))


def truth_edges(t: GoogleTenant, derived: bool = False) -> set[tuple[str, str]]:
    """(group, member) Google ids of user and group members, as the connector should read."""
    edges = set()
    for gid in t.groups:
        ids = t.transitive_members(gid) if derived else t.member_list(gid)
        for member in ids:
            if member in t.users or member in t.groups:
                edges.add((t.gid(gid), t.gid(member)))
    return edges


def paged_emulator() -> GoogleEmulator:
    """900 users, 30 groups; four of them made 2, 3, 4 and 5 pages long."""
    emu = GoogleEmulator.generate(users=900, groups=30, seed=7, medium_every=3)
    t = emu.tenant
    for group, size in zip(t.group_ids[1:5], (250, 450, 650, 850), strict=True):
        for uid in t.user_ids[:size]:
            t.add_member(group, uid)
    return emu


def fail_users(emu: GoogleEmulator) -> None:
    """Every users page after the first fails, in a batch (404) and alone (503)."""
    answer, api = emu.answer, emu._api
    users = "/admin/directory/v1/users"

    def refused(raw_path: str, params: dict[str, str], auth: str | None) -> Reply:
        if raw_path == users and params.get("pageToken"):
            return emu.error_reply(404, "notFound", "Injected failure.")
        return answer(raw_path, params, auth)

    async def failing(request: Any) -> Any:
        if request.url.path == users:
            return Response(b'{"error": {"code": 503}}', 503)
        return await api(request)

    emu.answer, emu._api = refused, failing  # type: ignore[method-assign]
