"""Configuration of ``idpsync serve``: the ``[service]`` table and per-connector schedules.

Kept apart from :mod:`idpsync.config` so the service's settings can grow without touching the
core schema. See ``docs/service.md``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from croniter import croniter
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
)

from idpsync.config_urls import check_url


def _secret(value: object, info: ValidationInfo) -> object:
    from idpsync.settings import resolve_secret

    return resolve_secret(value, info)


ServiceSecret = Annotated[SecretStr, BeforeValidator(_secret)]
"""A secret given as an ``env:NAME`` / ``file:/path`` reference."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScheduleSettings(_Strict):
    """When ``idpsync serve`` syncs one connector."""

    full: str | None = None
    """Cron expression of full syncs (``0 * * * *``: hourly); a sixth field counts seconds."""
    incremental_every: float | None = Field(None, gt=0)
    """Seconds between incremental syncs; only for sources that support incremental reads."""
    overdue_after: float | None = Field(None, gt=0)
    """Alert when no run succeeded for this many seconds (default: twice the cron period)."""
    misfire_grace: float = Field(3600.0, gt=0)
    """A missed slot (all instances down) still runs if it is at most this many seconds old."""

    @field_validator("full")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None and not croniter.is_valid(value):
            raise ValueError(f"not a valid cron expression: {value!r}")
        return value


class AlertSettings(_Strict):
    """Where alerts go, and when a repeated condition is worth one (``docs/service.md``)."""

    partial_after: int = Field(3, ge=1)
    """Alert when this many runs of a connector in a row were ``partial``."""
    approval_reminder_after: float = Field(4 * 3600.0, gt=0)
    """Alert again when a connector has awaited approval for this many seconds."""

    webhook_url: str | None = None
    """URL that receives a JSON ``POST`` per alert."""
    smtp_host: str | None = None
    """SMTP server for e-mail alerts."""
    smtp_port: int = Field(25, ge=1, le=65535)
    """SMTP port."""
    smtp_starttls: bool = False
    """Upgrade the SMTP connection with STARTTLS."""
    smtp_user: str | None = None
    """SMTP login, if the server wants one."""
    smtp_password: ServiceSecret | None = None
    """SMTP password (``env:``/``file:``)."""
    mail_from: str = "idpsync@localhost"
    """Sender address."""
    mail_to: list[str] = Field(default_factory=list)
    """Recipients."""

    @field_validator("webhook_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value)


class LocalAccount(_Strict):
    """A local sign-in for the pages besides the administrator (``[service.accounts.NAME]``)."""

    password_hash: str
    """``scrypt$…`` hash from ``idpsync serve --hash-password``."""
    role: Literal["viewer", "operator", "admin"] = "viewer"
    """What the account may do: ``viewer`` (look), ``operator`` (also sync and deliver) or
    ``admin`` (also approve, dismiss, change settings, manage tokens)."""


LOOPBACK = ("localhost", "127.0.0.1", "::1")
"""Hosts an OIDC URL may reach over plain http (a provider on this machine)."""
ROLES = ("viewer", "operator", "admin")
"""The roles of the admin pages, weakest first; a sign-in gets the strongest one it maps to."""


class OidcSettings(_Strict):
    """``[service.oidc]``: sign-in to the admin pages through the organisation's IdP.

    Authorization code flow with PKCE, ``state`` and ``nonce``; the ID token is checked against
    the provider's published keys. Whoever matches no entry of ``roles`` is refused.
    """

    issuer: str
    """The provider's issuer URL; its ``/.well-known/openid-configuration`` is read from it."""
    client_id: str = Field(min_length=1)
    """This application's client id at the provider."""
    client_secret: ServiceSecret
    """This application's client secret (``env:``/``file:``)."""
    display_name: str = Field("single sign-on", min_length=1, max_length=60)
    """What the login page's button says after "Sign in with"."""
    scopes: list[str] = Field(default_factory=lambda: ["openid", "email", "profile"])
    """Scopes asked for; ``openid`` is required."""
    role_claim: str = "groups"
    """The ID token claim read for ``roles``; dots reach into objects (``realm_access.roles``)."""
    roles: dict[str, list[str]]
    """Role → values of ``role_claim`` that grant it (``admin = ["idpsync-admins"]``); a
    sign-in matching none is refused."""
    user_claim: str = "preferred_username"
    """The claim shown as the user's name (``email``, then ``sub`` when it is absent)."""
    allowed_domains: list[str] = Field(default_factory=list)
    """If set, only verified e-mail addresses in these domains may sign in."""
    redirect_url: str | None = None
    """The callback URL registered at the provider; default: this service's address +
    ``/login/oidc/callback`` (set it behind a reverse proxy)."""
    timeout: float = Field(10.0, gt=0, le=120)
    """Seconds to wait for the provider's discovery, keys and token endpoints."""
    leeway: int = Field(60, ge=0, le=600)
    """Seconds of clock difference tolerated when checking a token's times."""

    @field_validator("issuer", "redirect_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        check_url(value)
        host = (urlsplit(value).hostname or "").lower()
        if value.lower().startswith("http://") and host not in LOOPBACK:
            raise ValueError(
                f"{value!r} must use https:// (plain http only on this machine: localhost)"
            )
        return value

    @field_validator("scopes")
    @classmethod
    def _openid(cls, value: list[str]) -> list[str]:
        if "openid" not in value:
            raise ValueError('scopes must include "openid"')
        return value

    @field_validator("roles")
    @classmethod
    def _roles(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = sorted(set(value) - set(ROLES))
        if unknown:
            raise ValueError(f"unknown role {unknown[0]!r}; the roles are {', '.join(ROLES)}")
        if not any(value.values()):
            raise ValueError('map at least one value to a role, e.g. admin = ["idpsync-admins"]')
        return value

    @field_validator("allowed_domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        return [d.strip().lower().lstrip("@") for d in value]


class ServiceSettings(_Strict):
    """``idpsync serve``: listening address, administrator, API tokens, alerts."""

    host: str = "127.0.0.1"
    """Address to listen on."""
    port: int = Field(8080, ge=0, le=65535)
    """TCP port."""
    admin_user: str = "admin"
    """The administrator's login name for the web pages."""
    admin_password_hash: str | None = None
    """``scrypt$…`` hash from ``idpsync serve --hash-password``; no web login without it."""
    accounts: dict[str, LocalAccount] = Field(default_factory=dict)
    """Further local accounts with their roles (the administrator is always ``admin``)."""
    api_tokens: dict[str, str] = Field(default_factory=dict)
    """API clients by name: ``sha256$…`` hashes from ``idpsync serve --new-token``; they act
    as ``admin`` (``idpsync tokens create --role`` makes tokens with less access)."""
    session_secret: ServiceSecret | None = None
    """Key signing session cookies (``env:``/``file:``); instances behind one address share it."""
    secure_cookies: bool | None = None
    """Mark cookies ``Secure``; default: only when the request came over https."""
    login_max_failures: int = Field(5, ge=1, le=1000)
    """Failed sign-ins from one address, or for the administrator's name, before a lockout."""
    login_window: float = Field(900.0, gt=0, le=86400)
    """Seconds the failures are counted in; also the first lockout's length (it doubles with
    every further lockout, up to a day; a successful sign-in resets it)."""
    delivery_interval: float = Field(10.0, gt=0)
    """Seconds between delivery rounds to each target."""
    tick_seconds: float = Field(1.0, gt=0)
    """How often the scheduler looks for due work."""
    json_logs: bool = False
    """Write logs as one JSON object per line."""
    alerts: AlertSettings = AlertSettings()
    """Alert channels."""
    oidc: OidcSettings | None = None
    """Sign-in through the organisation's IdP (OpenID Connect); the password stays as the
    break-glass account."""

    @field_validator("api_tokens")
    @classmethod
    def _hashes(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name, digest in value.items():
            if not re.fullmatch(r"sha256\$[0-9a-f]{64}", str(digest)):
                raise ValueError(
                    f"api token {name!r}: give the hash printed by 'idpsync serve --new-token' "
                    "(sha256$…), never the token itself"
                )
        return value
