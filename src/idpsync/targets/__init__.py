"""Targets: where the directory's changes are pushed (SCIM 2.0, Crowd REST, LDAP).

:func:`open_target` builds a target from its configuration around an injected
``httpx.AsyncClient`` (tests hand in an ASGI or mock transport; an LDAP target opens its own
connection); :func:`run_delivery` runs one
delivery or reconcile and records the outcome. See ``docs/targets.md``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from idpsync.config import TargetSettings
from idpsync.store.store import Store
from idpsync.targets import crowd_protocol, scim_protocol
from idpsync.targets.base import Target
from idpsync.targets.crowd import CrowdTarget
from idpsync.targets.delivery import deliver
from idpsync.targets.errors import TargetError
from idpsync.targets.scim import ScimTarget
from idpsync.targets.session import DeliveryResult, Session
from idpsync.targets.transport import TargetHttp

__all__ = ["DeliveryResult", "TargetError", "http_client", "open_target", "run_delivery"]


def http_client(settings: TargetSettings) -> httpx.AsyncClient:
    """The HTTP client a configured target uses (base URL, credentials, timeout).

    SCIM: bearer token; Crowd: the application's name and password as HTTP Basic, and
    ``/rest/usermanagement/1`` added to the URL. (An LDAP target sends no HTTP.)
    """
    headers = {}
    auth = None
    base_url = settings.url + "/"
    if settings.type == "crowd":
        assert settings.application is not None and settings.password is not None
        auth = httpx.BasicAuth(settings.application, settings.password.get_secret_value())
        base_url = f"{settings.url}/{crowd_protocol.API_PATH}/"
        headers.update(crowd_protocol.JSON_HEADERS)
    elif settings.token is not None:
        headers["Authorization"] = f"Bearer {settings.token.get_secret_value()}"
    return httpx.AsyncClient(
        base_url=base_url, headers=headers, auth=auth, timeout=settings.options.timeout
    )


def open_target(
    settings: TargetSettings,
    client: httpx.AsyncClient | None,
    *,
    dry_run: bool = False,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> Target:
    """The target for ``settings``, sending through ``client`` (``None`` for LDAP)."""
    if settings.type == "ldap":
        from idpsync.targets.ldap import LdapTarget

        return LdapTarget.from_settings(settings, dry_run=dry_run)
    if client is None:
        raise TypeError(f"a {settings.type} target needs an HTTP client")
    extra = {"sleep": sleep} if sleep is not None else {}
    crowd = settings.type == "crowd"
    http = TargetHttp(
        client,
        dry_run=dry_run,
        max_attempts=settings.options.max_attempts,
        read_error=crowd_protocol.read_error if crowd else scim_protocol.read_error,
        **extra,
    )
    if crowd:
        return CrowdTarget(http, settings.options, settings.crowd)
    return ScimTarget(http, settings.options, scim_protocol.PROFILES[settings.profile])


async def run_delivery(
    store: Store,
    name: str,
    settings: TargetSettings,
    client: httpx.AsyncClient | None,
    *,
    dry_run: bool = False,
    reconcile: bool = False,
    resume: bool = False,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    allow_deletes: bool = False,
) -> DeliveryResult:
    """Deliver pending changes to one target (or reconcile it) once."""
    target = open_target(settings, client, dry_run=dry_run, sleep=sleep)
    session = Session(store, name, settings, target, dry_run=dry_run, allow_deletes=allow_deletes)
    try:
        return await deliver(session, reconcile_first=reconcile, resume=resume)
    finally:
        close = getattr(target, "close", None)
        if close is not None:
            await close()
