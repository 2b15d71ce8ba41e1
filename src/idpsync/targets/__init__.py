"""Targets: where the directory's changes are pushed (SCIM 2.0 today).

:func:`open_target` builds a target from its configuration around an injected
``httpx.AsyncClient`` (tests hand in an ASGI or mock transport); :func:`run_delivery` runs one
delivery or reconcile and records the outcome. See ``docs/targets.md``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from idpsync.config import TargetSettings
from idpsync.store.store import Store
from idpsync.targets import scim_protocol
from idpsync.targets.delivery import deliver
from idpsync.targets.errors import TargetError
from idpsync.targets.scim import ScimTarget
from idpsync.targets.session import DeliveryResult, Session
from idpsync.targets.transport import TargetHttp

__all__ = ["DeliveryResult", "TargetError", "http_client", "open_target", "run_delivery"]


def http_client(settings: TargetSettings) -> httpx.AsyncClient:
    """The HTTP client a configured target uses (base URL, bearer token, timeout)."""
    headers = {}
    if settings.token is not None:
        headers["Authorization"] = f"Bearer {settings.token.get_secret_value()}"
    return httpx.AsyncClient(
        base_url=settings.url + "/", headers=headers, timeout=settings.options.timeout
    )


def open_target(
    settings: TargetSettings,
    client: httpx.AsyncClient,
    *,
    dry_run: bool = False,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> ScimTarget:
    """The target for ``settings``, sending through ``client``."""
    extra = {"sleep": sleep} if sleep is not None else {}
    http = TargetHttp(
        client,
        dry_run=dry_run,
        max_attempts=settings.options.max_attempts,
        read_error=scim_protocol.read_error,
        **extra,
    )
    return ScimTarget(http, settings.options, scim_protocol.PROFILES[settings.profile])


async def run_delivery(
    store: Store,
    name: str,
    settings: TargetSettings,
    client: httpx.AsyncClient,
    *,
    dry_run: bool = False,
    reconcile: bool = False,
    resume: bool = False,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> DeliveryResult:
    """Deliver pending changes to one target (or reconcile it) once."""
    target = open_target(settings, client, dry_run=dry_run, sleep=sleep)
    session = Session(store, name, settings, target, dry_run=dry_run)
    return await deliver(session, reconcile_first=reconcile, resume=resume)
