"""The configuration file: schema, loading, secret references and error locations.

One TOML file (``idpsync.toml`` by default; ``--config`` or ``IDPSYNC_CONFIG`` override it)
holds the store URL, any number of named connectors, each with its source settings, its
policy and its guard limits, and any number of named targets (``[targets.NAME]``, see
``docs/targets.md``) that receive the directory's changes. A sample lives in
``examples/idpsync.toml``; every key is described in ``docs/configuration.md``.

Secrets are never written inline: a secret-valued key takes ``"env:NAME"`` (read from the
environment) or ``"file:/path"`` (first line of a file). Errors name the key and the line, e.g.
``idpsync.toml:14: connectors.hr.source.path: field required``, and never echo a secret.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

from idpsync.config_policy import PolicySettings

DEFAULT_CONFIG_PATH = "idpsync.toml"
CONFIG_ENV = "IDPSYNC_CONFIG"


class ConfigError(Exception):
    """The configuration is missing, unreadable or invalid. ``problems`` holds one line each."""

    def __init__(self, path: str, problems: Sequence[str]) -> None:
        self.path = path
        self.problems = list(problems)
        super().__init__(f"invalid configuration {path}:\n" + "\n".join(self.problems))


def resolve_secret(value: object) -> object:
    """Turn a ``env:NAME`` / ``file:/path`` reference into the secret it names.

    Raises ``ValueError`` (reported by pydantic with the key's location) when the reference
    cannot be resolved or when a secret is written inline.
    """
    if isinstance(value, SecretStr) or value is None:
        return value
    if not isinstance(value, str):
        raise ValueError("a secret must be a string reference like 'env:NAME' or 'file:/path'")
    if value.startswith("env:"):
        name = value[4:]
        if not name:
            raise ValueError("'env:' needs the name of an environment variable")
        if name not in os.environ:
            raise ValueError(f"environment variable {name} is not set")
        if not os.environ[name]:
            raise ValueError(f"environment variable {name} is empty")
        return SecretStr(os.environ[name])
    if value.startswith("file:"):
        path = Path(value[5:]).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None
        # A key file (PEM, JSON) is kept whole; a one-line secret loses its trailing newline.
        secret = text if "\n" in text.strip() else text.strip()
        if not secret:
            raise ValueError(f"secret file {path} is empty")
        return SecretStr(secret)
    raise ValueError(
        "secrets are not written inline; use 'env:NAME' (environment variable) "
        "or 'file:/path' (file holding the secret)"
    )


Secret = Annotated[SecretStr, BeforeValidator(resolve_secret)]
"""A secret-valued setting, given as an ``env:``/``file:`` reference."""


class Strict(BaseModel):
    """Base for every configuration table: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class HttpSettings(Strict):
    """How the connector's HTTP client reaches the IdP."""

    connect_timeout: float = Field(10.0, gt=0)
    """Seconds to wait for a TCP/TLS connection."""
    read_timeout: float = Field(60.0, gt=0)
    """Seconds to wait for response data."""
    proxy: str | None = None
    """Proxy URL (``http://host:port``); by default ``HTTPS_PROXY``/``NO_PROXY`` are honoured."""
    ca_bundle: str | None = None
    """Path of a PEM file of extra trusted CA certificates (e.g. a TLS-inspecting proxy's)."""
    verify_tls: bool = True
    """TLS certificate verification; only for a lab, never in production."""
    max_attempts: int = Field(6, ge=1, le=50)
    """Attempts per request, including the first."""
    max_retry_seconds: float = Field(300.0, gt=0)
    """Total time a request may spend waiting for retries."""
    requests_per_second: float | None = Field(None, gt=0)
    """Client-side request budget; ``None`` takes the source's own default."""
    concurrency: int | None = Field(None, ge=1, le=256)
    """Requests in flight at once; ``None`` takes the source's own default."""


class SourceBase(Strict):
    """Settings every source has."""

    base_url: str | None = None
    """Override of the IdP's API base URL (national clouds, custom domains, proxies, emulators)."""
    token_url: str | None = None
    """Override of the IdP's token endpoint URL."""
    http: HttpSettings = HttpSettings()
    """HTTP client settings."""


class FileSourceSettings(SourceBase):
    """The ``file`` source: a JSON document of users, groups and memberships."""

    type: Literal["file"]
    """Source type."""
    path: str
    """Path of the JSON document (relative paths are relative to the configuration file)."""


class EntraCertificate(Strict):
    """A certificate credential for Entra: the private key signs the JWT client assertion."""

    private_key: Secret
    """PEM RSA private key, as ``file:/path`` (or ``env:NAME``)."""
    certificate: Secret
    """PEM certificate registered on the app (its SHA-1 thumbprint goes in the JWT's ``x5t``)."""


class EntraSourceSettings(SourceBase):
    """The ``entra`` source: Entra ID through Microsoft Graph (``docs/sources/entra.md``)."""

    type: Literal["entra"]
    """Source type."""
    tenant: str = Field(min_length=1)
    """Tenant id (GUID) or primary domain."""
    client_id: str = Field(min_length=1)
    """Application (client) id of the app registration."""
    client_secret: Secret | None = None
    """Client secret (``env:``/``file:``); or give ``certificate`` instead."""
    certificate: EntraCertificate | None = None
    """Certificate credential (private key + certificate); or give ``client_secret``."""
    api_version: Literal["v1.0", "beta"] = "v1.0"
    """Graph API version; ignored when ``base_url`` is set (it then ends in the version)."""
    fetch_managers: bool = True
    """Read each user's manager (``$expand=manager`` on the user listing)."""
    fetch_photos: bool = False
    """Read each user's photo version (one request per user; bytes only when it changed)."""
    transitive: bool | None = None
    """Read nested groups below required groups / above a user; default: the policy's flag."""
    full_sync_every_hours: float = Field(24.0, ge=0)
    """An automatic (``idpsync sync``) run is a full read when the last one is older than this."""

    @field_validator("certificate")
    @classmethod
    def _one_credential(cls, value: EntraCertificate | None, info: Any) -> EntraCertificate | None:
        if value is not None and info.data.get("client_secret") is not None:
            raise ValueError("give either client_secret or certificate, not both")
        return value

    def model_post_init(self, _context: Any) -> None:
        """Require one credential."""
        if self.client_secret is None and self.certificate is None:
            raise ValueError("client_secret: required key is missing (or give certificate)")


SourceSettings = Annotated[FileSourceSettings | EntraSourceSettings, Field(discriminator="type")]
"""Every source's settings, told apart by ``type``."""


class GuardSettings(Strict):
    """Safety limits that stop a bad run before it touches anything."""

    max_snapshot_shrink: float = Field(0.25, ge=0, le=1)
    """Refuse a run whose IdP read has this share fewer users than the last good run's."""
    min_snapshot_shrink_count: int = Field(10, ge=0)
    """The shrink limit applies only when at least this many users disappeared."""
    refuse_empty: bool = True
    """Refuse a run whose IdP read has no users at all while the last good run had some."""

    max_deactivate_share: float = Field(0.10, ge=0, le=1)
    """Refuse a run that would deactivate or delete more than this share of owned users."""
    max_deactivate_count: int | None = Field(None, ge=0)
    """Refuse a run that would deactivate or delete more than this many users."""
    min_deactivations_for_share: int = Field(5, ge=0)
    """The share limit applies only from this many removals on (tiny directories)."""


class ConnectorSettings(Strict):
    """One named connector: a source, its policy and its guards."""

    source: SourceSettings
    """Where users come from."""
    policy: PolicySettings = PolicySettings()
    """How the snapshot maps onto the directory."""
    guard: GuardSettings = GuardSettings()
    """Safety limits."""
    enabled: bool = True
    """A disabled connector is skipped by ``idpsync sync`` without a name."""


class StoreSettings(Strict):
    """Where the directory lives."""

    url: str = "sqlite:///idpsync.db"
    """SQLAlchemy URL: ``sqlite:///path.db`` or ``postgresql+psycopg://user@host/db``."""
    token_key: Secret | None = None
    """Fernet key encrypting stored refresh tokens (``env:``/``file:``); default
    ``$IDPSYNC_TOKEN_KEY``."""

    @field_validator("url")
    @classmethod
    def _known_dialect(cls, value: str) -> str:
        if not re.match(r"^(sqlite|postgresql(\+psycopg)?)://", value):
            raise ValueError("use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB")
        return value


class TargetOptions(Strict):
    """How a target behaves (the profile sets the defaults a server needs)."""

    delete_users: bool = False
    """Send ``DELETE`` for users deleted in the directory; otherwise they are deactivated."""
    unmanaged: Literal["ignore", "deactivate"] = "ignore"
    """In reconcile mode: what happens to target users idpsync neither created nor adopted."""
    page_size: int = Field(100, ge=1, le=1000)
    """Resources per page when listing (the Atlassian profile caps it at 100)."""
    members_per_patch: int = Field(50, ge=1, le=1000)
    """Member values per ``PATCH`` request (within the server's limits)."""
    max_failure_rate: float = Field(0.5, gt=0, le=1)
    """Quarantine the target when more than this share of a run's changes is rejected."""
    min_failures_for_quarantine: int = Field(5, ge=1)
    """The failure rate only counts from this many rejected changes in one run on."""
    retry_base_seconds: float = Field(60.0, gt=0)
    """First wait before a rejected change is tried again; doubles per attempt."""
    retry_max_seconds: float = Field(6 * 3600.0, gt=0)
    """Longest wait between attempts of a rejected change."""
    max_attempts: int = Field(4, ge=1, le=20)
    """Attempts per HTTP request for 429/5xx/connection errors, including the first."""
    timeout: float = Field(30.0, gt=0)
    """Seconds per HTTP request."""


class TargetSettings(Strict):
    """One named target: where the directory's changes are pushed."""

    type: Literal["scim"]
    """Target type (``scim``: any SCIM 2.0 service provider)."""
    url: str
    """Base URL of the SCIM service (``https://api.atlassian.com/scim/directory/ID``)."""
    token: Secret | None = None
    """Bearer token, as ``env:NAME`` or ``file:/path``."""
    connectors: list[str] = Field(default_factory=list)
    """Connectors whose changes this target receives (empty: all)."""
    profile: Literal["generic", "atlassian"] = "generic"
    """Server quirks to honour: ``generic`` SCIM 2.0 or ``atlassian`` (Atlassian Cloud)."""
    options: TargetOptions = TargetOptions()
    """Delivery and reconcile behaviour."""
    enabled: bool = True
    """A disabled target is skipped by ``idpsync deliver`` without a name."""

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("use an http:// or https:// URL")
        return value.rstrip("/")


class Settings(Strict):
    """The whole configuration file."""

    store: StoreSettings = StoreSettings()
    """The directory store."""
    connectors: dict[str, ConnectorSettings] = Field(default_factory=dict)
    """Connectors by name."""
    targets: dict[str, TargetSettings] = Field(default_factory=dict)
    """Targets by name."""

    @field_validator("connectors", "targets")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", name):
                raise ValueError(f"name {name!r} must be 1-63 letters, digits, '-', '_' or '.'")
        return value


@dataclass(frozen=True)
class LoadedConfig:
    """A validated configuration and where it came from."""

    settings: Settings
    path: Path

    def connector(self, name: str) -> ConnectorSettings:
        """The named connector, or a :class:`ConfigError` listing the known names."""
        try:
            return self.settings.connectors[name]
        except KeyError:
            known = ", ".join(sorted(self.settings.connectors)) or "none"
            problem = f"no connector named {name!r} (known: {known})"
            raise ConfigError(str(self.path), [problem]) from None

    def target(self, name: str) -> TargetSettings:
        """The named target, or a :class:`ConfigError` listing the known names."""
        try:
            return self.settings.targets[name]
        except KeyError:
            known = ", ".join(sorted(self.settings.targets)) or "none"
            problem = f"no target named {name!r} (known: {known})"
            raise ConfigError(str(self.path), [problem]) from None

    def resolve_path(self, value: str) -> Path:
        """A path from the file, relative to the file's own folder."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.path.parent / path


def config_path(explicit: str | None) -> Path:
    """The configuration file to use: ``--config``, then ``IDPSYNC_CONFIG``, then the default."""
    return Path(explicit or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)


def load_config(explicit: str | None = None) -> LoadedConfig:
    """Read and validate the configuration file; raise :class:`ConfigError` on any problem."""
    path = config_path(explicit)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            str(path), [f"{path}: file not found (set --config or {CONFIG_ENV})"]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [f"{path}: cannot read: {exc}"]) from None
    return LoadedConfig(parse_config(text, str(path)), path.resolve())


def parse_config(text: str, name: str = DEFAULT_CONFIG_PATH) -> Settings:
    """Validate configuration text; errors carry ``name:line: key: problem``."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(name, [f"{name}: not valid TOML: {exc}"]) from None
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(name, _describe(exc, text, name)) from None


def _describe(exc: ValidationError, text: str, name: str) -> list[str]:
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = tuple(str(part) for part in error["loc"])
        # A discriminated union adds the tag ("file") to the location; drop it for the user.
        loc = tuple(part for i, part in enumerate(loc) if not _is_union_tag(loc, i))
        if error["type"] == "union_tag_invalid":
            loc += ("type",)  # point at the bad value, not at the table
        key = ".".join(loc) or "(top level)"
        message = _message(error)
        line = locate_key(text, loc)
        where = f"{name}:{line}" if line else name
        problems.append(f"{where}: {key}: {message}")
    return problems


def _is_union_tag(loc: tuple[str, ...], index: int) -> bool:
    return index > 0 and loc[index - 1] == "source" and loc[index] in _SOURCE_TYPES


_SOURCE_TYPES = {"file", "entra"}


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key (check its spelling and the table it is in)"
    if kind == "missing":
        return "required key is missing"
    if kind == "union_tag_invalid":
        tags = ", ".join(sorted(_SOURCE_TYPES))
        return f"unknown source type (one of: {tags})"
    if kind == "union_tag_not_found":
        return "the source needs a 'type' key"
    if kind == "literal_error" and error["loc"][-1] == "type" and error["loc"][0] == "targets":
        return "unknown target type (one of: scim)"
    if kind == "literal_error" and error["loc"][-1] == "type":
        tags = ", ".join(sorted(_SOURCE_TYPES))
        return f"unknown source type (one of: {tags})"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_.-]+(?:\s*\.\s*[A-Za-z0-9_-]+)*)\s*=""")


def _split_key(key: str) -> tuple[str, ...]:
    parts = re.findall(r'"([^"]*)"|\'([^\']*)\'|([A-Za-z0-9_-]+)', key)
    return tuple(next(p for p in part if p) if any(part) else "" for part in parts)


def locate_key(text: str, loc: tuple[str, ...]) -> int | None:
    """The 1-based line where the key at ``loc`` is set, or where its table starts.

    A best effort over plain TOML (tables, dotted keys); ``None`` when it cannot tell.
    """
    best: tuple[int, int] | None = None  # (matched length, line)
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            table = _split_key(header.group(1))
            candidate = table
        else:
            key = _KEY.match(line)
            if not key:
                continue
            candidate = table + _split_key(key.group(1))
        matched = _common_prefix(candidate, loc)
        if matched == len(candidate) and matched and (best is None or matched > best[0]):
            best = (matched, number)
    return best[1] if best else None


def _common_prefix(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    count = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        count += 1
    return count
