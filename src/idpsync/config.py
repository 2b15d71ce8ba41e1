"""The configuration file: schema, loading and secret references.

One TOML file (``idpsync.toml`` by default; ``--config`` or ``IDPSYNC_CONFIG`` override it)
holds the store URL, any number of named connectors, each with its source settings, its
policy and its guard limits, and any number of named targets (``[targets.NAME]``, see
``docs/targets.md``) that receive the directory's changes. A sample lives in
``examples/idpsync.toml``; every key is described in ``docs/configuration.md``.

Secrets are never written inline: a secret-valued key takes ``"env:NAME"`` (read from the
environment) or ``"file:/path"`` (first line of a file). Errors name the key and the line, e.g.
``idpsync.toml:14: connectors.hr.source.path: field required`` (see
:mod:`idpsync.config_errors`), and never echo a secret. Commands that only read the store
load the file with ``resolve_secrets=False``: references are checked but not read
(:class:`UnresolvedSecret`). URL-valued keys need a scheme and a host (:mod:`idpsync.config_urls`).
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
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from idpsync.config_errors import describe_errors
from idpsync.config_invariants import InvariantSettings, merged, unique_names
from idpsync.config_photos import check_photo_keys
from idpsync.config_policy import PolicySettings, TemplateText
from idpsync.config_service import ScheduleSettings, ServiceSettings
from idpsync.config_shadow import check_shadows
from idpsync.config_store import StoreSettings
from idpsync.config_urls import check_url
from idpsync.http.settings import HttpSettings
from idpsync.settings import Secret, Strict
from idpsync.sources.entra.settings import EntraSourceSettings
from idpsync.sources.file.settings import FileSourceSettings
from idpsync.sources.google.settings import GoogleSourceSettings
from idpsync.sources.keycloak.settings import KeycloakSourceSettings
from idpsync.sources.okta.settings import OktaSourceSettings
from idpsync.sources.onelogin.settings import OneLoginSourceSettings

DEFAULT_CONFIG_PATH = "idpsync.toml"
CONFIG_ENV = "IDPSYNC_CONFIG"


class ConfigError(Exception):
    """The configuration is missing, unreadable or invalid. ``problems`` holds one line each."""

    def __init__(self, path: str, problems: Sequence[str]) -> None:
        self.path = path
        self.problems = list(problems)
        super().__init__(f"invalid configuration {path}:\n" + "\n".join(self.problems))


SourceSettings = Annotated[
    FileSourceSettings
    | OneLoginSourceSettings
    | KeycloakSourceSettings
    | GoogleSourceSettings
    | OktaSourceSettings
    | EntraSourceSettings,
    Field(discriminator="type"),
]
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

    max_group_delete_share: float = Field(0.10, ge=0, le=1)
    """Refuse a run that would delete more than this share of the connector's groups."""
    min_group_deletes_for_share: int = Field(5, ge=0)
    """The group share limit applies only from this many group deletions on."""
    max_group_delete_count: int | None = Field(None, ge=0)
    """Refuse a run that would delete more than this many groups."""
    max_membership_remove_share: float = Field(0.10, ge=0, le=1)
    """Refuse a run that would remove more than this share of the connector's memberships."""
    min_membership_removals_for_share: int = Field(50, ge=0)
    """The membership share limit applies only from this many removals on."""
    max_membership_remove_count: int | None = Field(None, ge=0)
    """Refuse a run that would remove more than this many memberships in total."""
    max_group_shrink: float = Field(0.20, ge=0, le=1)
    """Refuse a run that would take more than this share of one group's members out of it…"""
    min_group_size_for_shrink: int = Field(50, ge=1)
    """…for groups with at least this many members."""


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
    shadow_of: str | None = None
    """Name of the connector this one shadows: its runs read and stage, never change the
    directory (``docs/migration.md``); ``None``: a normal connector."""
    schedule: ScheduleSettings = ScheduleSettings()
    """When ``idpsync serve`` syncs this connector (``docs/service.md``)."""
    invariants: list[InvariantSettings] = Field(default_factory=list)
    """Facts a run may not break (``[[connectors.NAME.invariants]]``; after loading, the
    global ``[[invariants]]`` are included)."""

    @field_validator("invariants")
    @classmethod
    def _invariant_names(cls, value: list[InvariantSettings]) -> list[InvariantSettings]:
        return unique_names(value)


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
    """Attempts per HTTP request for 429/5xx/connection errors, including the first (an
    ``http.max_attempts`` of the target wins)."""
    timeout: float = Field(30.0, gt=0)
    """Seconds to connect and to wait for data (``http.connect_timeout``/``read_timeout`` of
    the target win)."""
    max_reconcile_remove_share: float = Field(0.25, ge=0, le=1)
    """Refuse a reconcile that would deactivate or delete more than this share of the target's
    active users (``deliver --reconcile --allow-deletes`` confirms)…"""
    min_reconcile_removals_for_share: int = Field(10, ge=0)
    """…from this many such removals on."""
    max_reconcile_remove_count: int | None = Field(None, ge=0)
    """Refuse a reconcile that would deactivate or delete more than this many target users."""
    max_active_users: int | None = Field(None, ge=0)
    """Seats: active users idpsync may hold in the target; creations and reactivations past it
    wait in the target's held queue (``docs/targets.md``)."""
    seat_priority: list[Annotated[str, Field(pattern=r"^group:.+")]] = Field(default_factory=list)
    """Order of the held queue: members of ``group:NAME`` first, then by creation order."""


class CrowdOptions(Strict):
    """Settings of a ``crowd`` target (``[targets.NAME.crowd]``)."""

    source_id_attribute: str = Field("idpsync-source-id", min_length=1)
    """User attribute holding the directory's source id (how idpsync recognises its users)."""
    membership_xml: bool = True
    """Read the whole membership graph with ``GET /group/membership`` (XML) in a reconcile;
    falls back to one listing per group when the server does not offer it."""


class LdapOptions(Strict):
    """Settings of an ``ldap`` target (``[targets.NAME.ldap]``)."""

    base_dn: str
    """The directory suffix searched for idpsync's entries (``dc=example,dc=org``)."""
    users_dn: str
    """Where users are created (``ou=people,dc=example,dc=org``)."""
    groups_dn: str
    """Where groups are created (``ou=groups,dc=example,dc=org``)."""
    user_object_classes: list[str] = Field(default_factory=lambda: ["inetOrgPerson"])
    """Object classes of a new user; the first one is used to find users."""
    group_object_class: Literal["groupOfNames", "groupOfUniqueNames"] = "groupOfNames"
    """Object class of a new group (member attribute ``member`` or ``uniqueMember``)."""
    user_rdn: str = "uid"
    """Attribute naming a user entry (its value comes from :attr:`user_attributes`)."""
    user_attributes: dict[str, str] = Field(
        default_factory=lambda: {
            "uid": "login",
            "cn": "display_name",
            "sn": "family_name",
            "givenName": "given_name",
            "mail": "email",
            "displayName": "display_name",
        }
    )
    """LDAP attribute → directory field (``login``, ``email``, ``display_name``,
    ``given_name``, ``family_name``); ``cn`` and ``sn`` fall back to the login when empty."""
    source_id_attribute: str | None = "employeeNumber"
    """User attribute holding the directory's source id (``""``: do not store it)."""
    id_attribute: str = "entryUUID"
    """Operational attribute that stays the same across renames and moves (the remote id)."""
    deactivate: Literal["attribute", "move"] = "attribute"
    """Deactivation: set :attr:`disabled_attribute`, or move the entry to :attr:`disabled_dn`."""
    disabled_attribute: str = "employeeType"
    """Attribute set to :attr:`disabled_value` while a user is inactive (``attribute`` mode)."""
    disabled_value: str = "disabled"
    """Value of :attr:`disabled_attribute` for an inactive user."""
    disabled_dn: str | None = None
    """Subtree inactive users are moved to (``move`` mode)."""
    placeholder_member: str | None = None
    """Member DN kept in a group that would otherwise be empty (``groupOfNames`` needs one
    member); default: the bind DN."""
    page_size: int = Field(500, ge=1, le=5000)
    """Entries per page of a paged search."""
    ca_file: str | None = None
    """PEM file of CA certificates for ``ldaps://`` (default: the system's); certificates are
    always verified."""

    @field_validator("source_id_attribute")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    @model_validator(mode="after")
    def _move_needs_subtree(self) -> LdapOptions:
        if self.deactivate == "move" and not self.disabled_dn:
            raise ValueError("deactivate = 'move' needs disabled_dn (the subtree to move to)")
        return self


class TargetSettings(Strict):
    """One named target: where the directory's changes are pushed."""

    type: Literal["scim", "crowd", "ldap"]
    """Target type: ``scim`` (SCIM 2.0), ``crowd`` (Crowd REST, also Jira Data Center as a
    user server) or ``ldap`` (an LDAPv3 directory)."""
    url: str
    """SCIM: base URL of the service; Crowd: the server's base URL (before ``/rest``);
    LDAP: ``ldap://host:port`` or ``ldaps://host:port``."""
    token: Secret | None = None
    """SCIM bearer token, as ``env:NAME`` or ``file:/path``."""
    application: str | None = None
    """Crowd: the application name the target authenticates as."""
    bind_dn: str | None = None
    """LDAP: the DN idpsync binds as."""
    password: Secret | None = None
    """Crowd: the application's password; LDAP: the bind password (``env:``/``file:``)."""
    connectors: list[str] = Field(default_factory=list)
    """Connectors whose changes this target receives (empty: all)."""
    profile: Literal["generic", "atlassian"] = "generic"
    """SCIM server quirks to honour: ``generic`` SCIM 2.0 or ``atlassian`` (Atlassian Cloud)."""
    crowd: CrowdOptions = CrowdOptions()
    """Crowd settings."""
    ldap: LdapOptions | None = None
    """LDAP settings (required for ``type = "ldap"``)."""
    options: TargetOptions = TargetOptions()
    """Delivery and reconcile behaviour."""
    http: HttpSettings = HttpSettings()
    """How an HTTP target (SCIM, Crowd) is reached: proxy, CA bundle, timeouts, retries (an
    LDAP target ignores it)."""
    enabled: bool = True
    """A disabled target is skipped by ``idpsync deliver`` without a name."""
    attributes: dict[str, TemplateText] = Field(default_factory=dict)
    """Target attribute → template, over the kind's defaults (``docs/targets.md``)."""

    @field_validator("url")
    @classmethod
    def _known_url(cls, value: str) -> str:
        return check_url(value, ("https", "http", "ldaps", "ldap")).rstrip("/")

    @model_validator(mode="after")
    def _keys_of_type(self) -> TargetSettings:
        if (self.type == "ldap") != self.url.startswith("ldap"):
            scheme = "ldap:// or ldaps://" if self.type == "ldap" else "http:// or https://"
            raise ValueError(f"a {self.type} target needs an {scheme} URL")
        missing = [
            key
            for key, needed in (
                ("application", self.type == "crowd"),
                ("password", self.type == "crowd"),
                ("ldap", self.type == "ldap"),
            )
            if needed and getattr(self, key) is None
        ]
        if missing:
            raise ValueError(f"a {self.type} target needs: " + ", ".join(missing))
        check_photo_keys(self.type, self.attributes)
        return self


class Settings(Strict):
    """The whole configuration file."""

    store: StoreSettings = StoreSettings()
    """The directory store."""
    connectors: dict[str, ConnectorSettings] = Field(default_factory=dict)
    """Connectors by name."""
    targets: dict[str, TargetSettings] = Field(default_factory=dict)
    """Targets by name."""
    service: ServiceSettings = ServiceSettings()
    """``idpsync serve`` (``docs/service.md``)."""
    invariants: list[InvariantSettings] = Field(default_factory=list)
    """Invariants of every connector (``[[invariants]]``)."""

    @field_validator("invariants")
    @classmethod
    def _invariant_names(cls, value: list[InvariantSettings]) -> list[InvariantSettings]:
        return unique_names(value)

    @model_validator(mode="after")
    def _global_invariants(self) -> Settings:
        if self.invariants:
            connectors = {
                name: c.model_copy(update={"invariants": merged(c.invariants, self.invariants)})
                for name, c in self.connectors.items()
            }
            object.__setattr__(self, "connectors", connectors)  # frozen: set once, here
        return self

    @model_validator(mode="after")
    def _shadows(self) -> Settings:
        check_shadows({name: c.shadow_of for name, c in self.connectors.items()})
        return self

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


def load_config(explicit: str | None = None, *, resolve_secrets: bool = True) -> LoadedConfig:
    """Read and validate the configuration file; raise :class:`ConfigError` on any problem.

    ``resolve_secrets=False`` checks secret references without reading them (for commands
    that never reach an IdP or a target); see :class:`UnresolvedSecret`.
    """
    path = config_path(explicit)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            str(path), [f"{path}: file not found (set --config or {CONFIG_ENV})"]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [f"{path}: cannot read: {exc}"]) from None
    settings = parse_config(text, str(path), resolve_secrets=resolve_secrets)
    return LoadedConfig(settings, path.resolve())


def parse_config(
    text: str, name: str = DEFAULT_CONFIG_PATH, *, resolve_secrets: bool = True
) -> Settings:
    """Validate configuration text; errors carry ``name:line: key: problem``."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(name, [f"{name}: not valid TOML: {exc}"]) from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise ConfigError(name, [f"{name}: not valid TOML: values nested too deeply"]) from None
    try:
        return Settings.model_validate(raw, context={"resolve_secrets": resolve_secrets})
    except ValidationError as exc:
        raise ConfigError(name, describe_errors(exc, text, name)) from None
