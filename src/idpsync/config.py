"""The configuration file: schema, loading, secret references and error locations.

One TOML file (``idpsync.toml`` by default; ``--config`` or ``IDPSYNC_CONFIG`` override it)
holds the store URL, any number of named connectors, each with its source settings, its
policy and its guard limits, and any number of named targets (``[targets.NAME]``, see
``docs/targets.md``) that receive the directory's changes. A sample lives in
``examples/idpsync.toml``; every key is described in ``docs/configuration.md``.

Secrets are never written inline: a secret-valued key takes ``"env:NAME"`` (read from the
environment) or ``"file:/path"`` (first line of a file). Errors name the key and the line, e.g.
``idpsync.toml:14: connectors.hr.source.path: field required``, and never echo a secret.
Commands that only read the store load the file with ``resolve_secrets=False``: references are
checked but not read (:class:`UnresolvedSecret`). URL-valued keys need a scheme and a host
(:mod:`idpsync.config_urls`).
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
    ValidationInfo,
    field_validator,
    model_validator,
)

from idpsync.config_policy import PolicySettings
from idpsync.config_service import ScheduleSettings, ServiceSettings
from idpsync.config_store import StoreSettings
from idpsync.config_urls import HttpUrlText, ProxyUrlText, check_url

DEFAULT_CONFIG_PATH = "idpsync.toml"
CONFIG_ENV = "IDPSYNC_CONFIG"


class ConfigError(Exception):
    """The configuration is missing, unreadable or invalid. ``problems`` holds one line each."""

    def __init__(self, path: str, problems: Sequence[str]) -> None:
        self.path = path
        self.problems = list(problems)
        super().__init__(f"invalid configuration {path}:\n" + "\n".join(self.problems))


class UnresolvedSecret(SecretStr):
    """A secret reference that was checked but not read (``resolve_secrets=False``).

    Commands that only read the store (``runs``, ``users``, ``groups``, ``targets``) load the
    configuration this way, so an unset ``env:`` variable or an unreadable ``file:`` does not
    stop them. Its value is never available: asking for it raises ``RuntimeError``.
    """

    def __init__(self, reference: str) -> None:
        super().__init__("")
        self.reference = reference
        """The ``env:NAME`` / ``file:/path`` reference as written (not a secret)."""

    def get_secret_value(self) -> str:
        """Refuse: the configuration was loaded without resolving secrets."""
        raise RuntimeError(
            f"the secret {self.reference} was not read (configuration loaded without secrets)"
        )


def resolve_secret(value: object, info: ValidationInfo | None = None) -> object:
    """Turn a ``env:NAME`` / ``file:/path`` reference into the secret it names.

    Raises ``ValueError`` (reported by pydantic with the key's location) when the reference
    cannot be resolved or when a secret is written inline. When the validation context has
    ``resolve_secrets`` false, only the reference's form is checked and an
    :class:`UnresolvedSecret` stands in for the secret.
    """
    if isinstance(value, SecretStr) or value is None:
        return value
    reference = _reference(value)
    if info is not None and not (info.context or {}).get("resolve_secrets", True):
        return UnresolvedSecret(reference)
    if reference.startswith("env:"):
        name = reference[4:]
        if name not in os.environ:
            raise ValueError(f"environment variable {name} is not set")
        if not os.environ[name]:
            raise ValueError(f"environment variable {name} is empty")
        return SecretStr(os.environ[name])
    path = Path(reference[5:]).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None
    # A key file (PEM, JSON) is kept whole; a one-line secret loses its trailing newline.
    secret = text if "\n" in text.strip() else text.strip()
    if not secret:
        raise ValueError(f"secret file {path} is empty")
    return SecretStr(secret)


def _reference(value: object) -> str:
    """``value`` when it is a well-formed ``env:NAME`` / ``file:/path`` reference."""
    if not isinstance(value, str):
        raise ValueError("a secret must be a string reference like 'env:NAME' or 'file:/path'")
    if value == "env:":
        raise ValueError("'env:' needs the name of an environment variable")
    if value == "file:":
        raise ValueError("'file:' needs the path of a file holding the secret")
    if value.startswith(("env:", "file:")):
        return value
    raise ValueError(
        "secrets are not written inline; use 'env:NAME' (environment variable) "
        "or 'file:/path' (file holding the secret)"
    )


def secret_field(value: object, info: ValidationInfo) -> object:
    """The validator of every secret-valued key: :func:`resolve_secret` with pydantic's info."""
    return resolve_secret(value, info)


Secret = Annotated[SecretStr, BeforeValidator(secret_field)]
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
    request_deadline: float = Field(120.0, gt=0)
    """Seconds one request may take in all (connect, send, read the whole body)."""
    proxy: ProxyUrlText | None = None
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

    base_url: HttpUrlText | None = None
    """Override of the IdP's API base URL (national clouds, custom domains, proxies, emulators)."""
    token_url: HttpUrlText | None = None
    """Override of the IdP's token endpoint URL."""
    http: HttpSettings = HttpSettings()
    """HTTP client settings."""


class FileSourceSettings(SourceBase):
    """The ``file`` source: a JSON document of users, groups and memberships."""

    type: Literal["file"]
    """Source type."""
    path: str
    """Path of the JSON document (relative paths are relative to the configuration file)."""


class OneLoginSourceSettings(SourceBase):
    """The ``onelogin`` source: OneLogin's v1/v2 API (see ``docs/sources/onelogin.md``)."""

    type: Literal["onelogin"]
    """Source type."""
    subdomain: str | None = None
    """The account's subdomain: the API is at ``https://{subdomain}.onelogin.com``
    (``base_url`` overrides it, e.g. ``https://api.eu.onelogin.com``)."""
    client_id: str
    """Client id of the API credential (Administration → Developers → API Credentials)."""
    client_secret: Secret
    """Its client secret, as ``env:NAME`` or ``file:/path``."""
    groups_from: Literal["groups", "roles", "both"] = "groups"
    """Where directory groups come from: OneLogin groups (one per user), roles, or both."""
    role_prefix: str = ""
    """Put before every role's name (e.g. ``"role: "``) so a role never shares a group's name."""
    active_statuses: list[int] = Field(default_factory=lambda: [1, 3, 4, 5, 7, 8])
    """``status`` codes that count as active (0 unactivated and 2 suspended do not)."""
    active_states: list[int] = Field(default_factory=lambda: [1])
    """``state`` codes that count as active (1 approved)."""
    min_remaining_calls: int = Field(500, ge=0)
    """Stop reading (run incomplete, nothing removed) when the account's hourly API budget
    has this many calls left or fewer, so other integrations are not starved."""
    full_sync_every_hours: float = Field(24.0, ge=0)
    """An automatic (``idpsync sync``) run is a full read when the last one is older than this;
    the others read only users updated since the last read (deleted users wait for a full one)."""

    @field_validator("subdomain")
    @classmethod
    def _subdomain(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}", value):
            raise ValueError("use the bare subdomain, e.g. 'acme' for acme.onelogin.com")
        return value


class KeycloakSourceSettings(SourceBase):
    """The ``keycloak`` source: the Admin REST API of one realm (see ``docs/sources/keycloak.md``).

    Authenticates either as a confidential client's service account (``client_id`` +
    ``client_secret``) or as a master-realm administrator through ``admin-cli``
    (``username`` + ``password``).
    """

    type: Literal["keycloak"]
    """Source type."""
    realm: str = Field(min_length=1)
    """Realm whose users and groups are read."""
    client_id: str | None = None
    """Client with a service account (needs realm-management roles view-users, query-groups)."""
    client_secret: Secret | None = None
    """That client's secret, as ``env:NAME`` or ``file:/path``."""
    username: str | None = None
    """Administrator of ``admin_realm`` (password grant through ``admin_client_id``)."""
    password: Secret | None = None
    """That administrator's password, as ``env:NAME`` or ``file:/path``."""
    admin_realm: str = "master"
    """Realm the administrator belongs to."""
    admin_client_id: str = "admin-cli"
    """Public client used for the password grant."""
    auth_prefix: bool | None = None
    """``true``: Keycloak 16 and older (``/auth`` paths); ``false``: 17 and newer; unset: detect."""
    group_name: Literal["path", "name"] = "path"
    """Directory group name: the full path (``/eng/backend``) or the bare name (may collide)."""
    flatten_subgroups: bool = False
    """``true``: a member of a sub-group is also made a direct member of every group above it;
    ``false``: sub-groups are emitted as group members of their parent (group→group edges)."""
    page_size: int = Field(1000, ge=1, le=10000)
    """``max`` of user, group and sub-group pages."""
    members_page_size: int = Field(1000, ge=1, le=10000)
    """``max`` of group member pages (at least the usual group size avoids deep offsets)."""

    @model_validator(mode="after")
    def _credentials(self) -> KeycloakSourceSettings:
        if not self.base_url:
            raise ValueError("base_url is required (e.g. https://keycloak.example.com)")
        client = self.client_id is not None or self.client_secret is not None
        admin = self.username is not None or self.password is not None
        if client == admin:
            raise ValueError(
                "set either client_id + client_secret (service account) "
                "or username + password (administrator), not both and not neither"
            )
        if client and (self.client_id is None or self.client_secret is None):
            raise ValueError("client_id and client_secret go together")
        if admin and (self.username is None or self.password is None):
            raise ValueError("username and password go together")
        return self


class GoogleSourceSettings(SourceBase):
    """The ``google`` source: Google Workspace through the Admin SDK Directory API v1.

    Two ways to sign in: a service account with domain-wide delegation (``credentials`` +
    ``subject``), or OAuth consent by an administrator (``client_id`` + ``client_secret``, then
    ``idpsync authorize``). See ``docs/sources/google.md``.
    """

    type: Literal["google"]
    """Source type."""
    customer: str = "my_customer"
    """Customer id to list (``my_customer``: the signed-in administrator's own)."""
    domain: str | None = None
    """List only this domain's users and groups instead of the whole customer."""
    credentials: Secret | None = None
    """Service account key file (JSON), as ``file:/path`` or ``env:NAME``."""
    subject: str | None = None
    """Administrator the service account impersonates (domain-wide delegation)."""
    client_id: str | None = None
    """OAuth client id (consent mode)."""
    client_secret: Secret | None = None
    """OAuth client secret (consent mode), as ``env:NAME`` or ``file:/path``."""
    auth_url: HttpUrlText | None = None
    """Override of the consent page URL (default Google's)."""
    fetch_photos: bool = False
    """Read every user's photo (one request per user with a photo) for ``photo_ref``."""
    nested: bool = False
    """List members with ``includeDerivedMembership``: members of nested groups count as
    direct members of every group above them."""
    quota: int = Field(2400, ge=1, le=1_000_000)
    """Directory API queries per minute the connector may use (the project's quota per user)."""

    @model_validator(mode="after")
    def _one_mode(self) -> GoogleSourceSettings:
        if self.credentials is not None and self.client_id is not None:
            raise ValueError("use either credentials + subject or client_id + client_secret")
        if self.credentials is not None and not self.subject:
            raise ValueError("a service account needs 'subject', the administrator to impersonate")
        if self.credentials is None and (self.client_id is None or self.client_secret is None):
            raise ValueError(
                "set credentials (service account key) + subject, or client_id + client_secret "
                "(OAuth consent, then 'idpsync authorize')"
            )
        return self


OktaStatus = Literal[
    "STAGED",
    "PROVISIONED",
    "ACTIVE",
    "RECOVERY",
    "PASSWORD_EXPIRED",
    "LOCKED_OUT",
    "SUSPENDED",
    "DEPROVISIONED",
]


class OktaSourceSettings(SourceBase):
    """The ``okta`` source: an Okta org's Management API (see ``docs/sources/okta.md``)."""

    type: Literal["okta"]
    """Source type."""
    base_url: HttpUrlText = Field(min_length=1)
    """The org URL, e.g. ``https://example.okta.com``."""
    api_token: Secret | None = None
    """An API token (sent as ``SSWS``); or use ``client_id`` + ``private_key``."""
    client_id: str | None = None
    """Client id of an OAuth service app (``private_key_jwt``)."""
    private_key: Secret | None = None
    """PEM RSA private key of the service app."""
    key_id: str | None = None
    """The key's ``kid`` as registered with the app (sent in the assertion header)."""
    scopes: list[str] = ["okta.users.read", "okta.groups.read"]
    """Scopes requested for the service app's access token."""
    reserve: float = Field(0.2, ge=0.0, lt=1.0)
    """Share of every rate-limit bucket left to the org's other integrations."""
    active_statuses: list[OktaStatus] = [
        "ACTIVE",
        "RECOVERY",
        "PASSWORD_EXPIRED",
        "LOCKED_OUT",
    ]
    """User statuses that count as active; every other status is inactive."""
    include_deprovisioned: bool = True
    """Also read ``DEPROVISIONED`` users (one more listing), so cleanup sees them as inactive."""
    group_types: list[Literal["OKTA_GROUP", "APP_GROUP", "BUILT_IN"]] = [
        "OKTA_GROUP",
        "APP_GROUP",
        "BUILT_IN",
    ]
    """Group types to read (skip ``BUILT_IN`` to save reading ``Everyone``'s members)."""
    groups_page_size: int = Field(10000, ge=1, le=10000)
    """``limit`` of ``GET /api/v1/groups``."""
    full_reconcile_hours: float = Field(24.0, ge=0)
    """An incremental read turns into a full one when the last full read is this old."""

    @model_validator(mode="after")
    def _one_credential(self) -> OktaSourceSettings:
        app = self.client_id is not None or self.private_key is not None
        if self.api_token is not None and app:
            raise ValueError("give either api_token or client_id + private_key, not both")
        if self.api_token is None and not (self.client_id and self.private_key):
            raise ValueError("needs api_token, or client_id and private_key (OAuth service app)")
        return self


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
    cloud: Literal["global", "usgov", "dod", "china"] = "global"
    """National cloud: Graph's host, the token service's host and the token scope
    (``global``, ``usgov`` = US Government L4, ``dod`` = L5, ``china`` = 21Vianet)."""
    scope: str | None = None
    """Token scope override; default: the cloud's Graph scope (never ``base_url``'s host)."""
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
    schedule: ScheduleSettings = ScheduleSettings()
    """When ``idpsync serve`` syncs this connector (``docs/service.md``)."""


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
    enabled: bool = True
    """A disabled target is skipped by ``idpsync deliver`` without a name."""

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
        raise ConfigError(name, _describe(exc, text, name)) from None


def _describe(exc: ValidationError, text: str, name: str) -> list[str]:
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = tuple(str(part) for part in error["loc"])
        # A discriminated union adds the tag ("file") to the location; drop it for the user.
        loc = tuple(part for i, part in enumerate(loc) if not _is_union_tag(loc, i))
        if error["type"] == "union_tag_invalid":  # point at the ``type`` key itself
            loc = (*loc, "type")
        key = ".".join(loc) or "(top level)"
        message = _message(error)
        line = locate_key(text, loc)
        where = f"{name}:{line}" if line else name
        problems.append(f"{where}: {key}: {message}")
    return problems


def _is_union_tag(loc: tuple[str, ...], index: int) -> bool:
    return index > 0 and loc[index - 1] == "source" and loc[index] in _SOURCE_TYPES


_SOURCE_TYPES = {"entra", "file", "google", "keycloak", "okta", "onelogin"}


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
        return "unknown target type (one of: crowd, ldap, scim)"
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
