"""Targets: where the directory's changes are pushed (SCIM 2.0, Crowd REST, LDAP).

An HTTP target sends through the shared HTTP client: :func:`http_client` builds it from the
target's ``http`` settings (proxy, CA bundle, timeouts, retries; tests hand in an ASGI or mock
transport) and :func:`open_target` puts the target's dry-run seam and credentials on it (an
LDAP target opens its own connection). :func:`run_delivery` runs one delivery or reconcile and
records the outcome. See ``docs/targets.md``.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from idpsync.config import TargetSettings
from idpsync.config_photos import photo_setting
from idpsync.http import Endpoint, HttpClient, build_http_client, register_secret
from idpsync.http.settings import HttpSettings
from idpsync.photos import PhotoReader
from idpsync.store.photos import StoredPhotos
from idpsync.store.store import Store
from idpsync.targets import crowd_endpoints, crowd_protocol, scim_endpoints, scim_protocol
from idpsync.targets.base import Target
from idpsync.targets.client import TargetClient
from idpsync.targets.crowd import CrowdTarget
from idpsync.targets.delivery import deliver
from idpsync.targets.errors import TargetError
from idpsync.targets.scim import ScimTarget
from idpsync.targets.session import DeliveryResult, Session

__all__ = [
    "DeliveryResult",
    "TargetError",
    "base_url",
    "endpoints",
    "http_client",
    "http_settings",
    "open_target",
    "run_delivery",
]


def base_url(settings: TargetSettings) -> str:
    """Where an HTTP target's calls go: SCIM its ``url``, Crowd ``url/rest/usermanagement/1``."""
    if settings.type == "crowd":
        return f"{settings.url}/{crowd_protocol.API_PATH}"
    return settings.url


def endpoints(settings: TargetSettings) -> tuple[Endpoint, ...]:
    """The endpoint table of an HTTP target's type (empty for LDAP)."""
    return {"scim": scim_endpoints.ENDPOINTS, "crowd": crowd_endpoints.ENDPOINTS}.get(
        settings.type, ()
    )


def http_settings(settings: TargetSettings) -> HttpSettings:
    """The HTTP client's settings: the target's ``http`` table, where it is silent ``options``.

    ``options.max_attempts`` and ``options.timeout`` (connect and read) apply unless the
    ``http`` table sets ``max_attempts`` or the timeouts itself.
    """
    given = settings.http.model_fields_set
    defaults = {
        "max_attempts": settings.options.max_attempts,
        "connect_timeout": settings.options.timeout,
        "read_timeout": settings.options.timeout,
    }
    update = {k: v for k, v in defaults.items() if k not in given}
    return settings.http.model_copy(update=update)


@asynccontextmanager
async def http_client(
    settings: TargetSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> AsyncIterator[HttpClient]:
    """The shared HTTP client of an HTTP target (``transport`` for tests), closed afterwards."""
    http = build_http_client(
        http_settings(settings), base_url=base_url(settings), transport=transport
    )
    try:
        yield http
    finally:
        await http.aclose()


def authorization(settings: TargetSettings) -> str | None:
    """The ``Authorization`` header of an HTTP target (registered for redaction).

    SCIM: the bearer token; Crowd: the application's name and password as HTTP Basic.
    """
    if settings.type == "crowd":
        assert settings.application is not None and settings.password is not None
        password = settings.password.get_secret_value()
        pair = f"{settings.application}:{password}".encode()
        encoded = base64.b64encode(pair).decode("ascii")
        register_secret(password)
        register_secret(encoded)
        return f"Basic {encoded}"
    if settings.token is None:
        return None
    token = settings.token.get_secret_value()
    register_secret(token)
    return f"Bearer {token}"


def open_target(
    settings: TargetSettings, client: HttpClient | None, *, dry_run: bool = False
) -> Target:
    """The target for ``settings``, sending through ``client`` (``None`` for LDAP)."""
    if settings.type == "ldap":
        from idpsync.targets.ldap import LdapTarget

        return LdapTarget.from_settings(settings, dry_run=dry_run)
    if client is None:
        raise TypeError(f"a {settings.type} target needs an HTTP client")
    crowd = settings.type == "crowd"
    http = TargetClient(
        client,
        authorization=authorization(settings),
        dry_run=dry_run,
        read_error=crowd_protocol.read_error if crowd else scim_protocol.read_error,
    )
    if crowd:
        return CrowdTarget(http, settings.options, settings.crowd)
    kind = photo_setting(settings.type, settings.profile, settings.attributes) or "photo"
    profile = scim_protocol.PROFILES[settings.profile]
    return ScimTarget(http, settings.options, profile, photo_type=kind)


def photo_reader(store: Store, given: PhotoReader | None) -> PhotoReader | None:
    """Where delivery finds users' photos: ``given`` (tests), else the bytes the runs stored.

    The one place a delivery gets its :class:`~idpsync.photos.PhotoReader`: the store's
    (:class:`~idpsync.store.photos.StoredPhotos`) returns a user's bytes only for their current
    ``photo_ref``, so a photo whose new version is not downloaded yet is left as the target has it.
    """
    return given if given is not None else StoredPhotos(store)


async def run_delivery(
    store: Store,
    name: str,
    settings: TargetSettings,
    client: HttpClient | None,
    *,
    dry_run: bool = False,
    reconcile: bool = False,
    resume: bool = False,
    allow_deletes: bool = False,
    photos: PhotoReader | None = None,
) -> DeliveryResult:
    """Deliver pending changes to one target (or reconcile it) once.

    ``photos``: where users' photos come from (default: :func:`photo_reader`).
    """
    target = open_target(settings, client, dry_run=dry_run)
    session = Session(
        store,
        name,
        settings,
        target,
        dry_run=dry_run,
        allow_deletes=allow_deletes,
        photos=photo_reader(store, photos),
    )
    try:
        return await deliver(session, reconcile_first=reconcile, resume=resume)
    finally:
        close = getattr(target, "close", None)
        if close is not None:
            await close()
