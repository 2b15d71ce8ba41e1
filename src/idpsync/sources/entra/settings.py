"""The ``source`` table of a Entra ID connector (``type = "entra"``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from idpsync.photos import DEFAULT_BUDGET, DEFAULT_MAX_BYTES
from idpsync.settings import Secret, Strict
from idpsync.sources.settings import SourceBase


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
    partition_users: Literal["auto", "off"] = "auto"
    """``auto``: list users in parallel ``startswith(userPrincipalName,…)`` partitions when the
    tenant is large and the result is proven complete (else one chain); ``off``: one chain."""
    partition_min_pages: int = Field(20, ge=1)
    """``auto`` partitions only when the one chain would be at least this many pages."""
    user_attributes: list[Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")]] = Field(
        default_factory=list
    )
    """More user properties to read (``$select``), on top of the identity and HR ones the
    connector always reads: directory extensions (``extension_<appId>_<name>``),
    ``onPremisesExtensionAttributes``, ``employeeHireDate``, ``city`` …"""
    fetch_photos: bool = False
    """Read each user's photo version (one request per user; bytes only when it changed)."""
    photo_max_bytes: int = Field(DEFAULT_MAX_BYTES, ge=1, le=10 * 1024 * 1024)
    """With ``fetch_photos``: the largest photo kept, in bytes; a larger one is refused and
    reported (the user still syncs)."""
    photo_budget: int = Field(DEFAULT_BUDGET, ge=0)
    """With ``fetch_photos``: photos downloaded per run; the others wait for the next run and
    are reported as pending (0: none are downloaded, versions are still read)."""
    transitive: bool | None = None
    """Read nested groups below required groups / above a user; default: the policy's flag."""
    batch: bool = True
    """Read group member listings through ``POST /$batch``, up to ``batch_size`` a call."""
    batch_size: int = Field(20, ge=1, le=20)
    """Requests in one batch call (Graph allows at most 20)."""
    expand_members: bool = True
    """List groups with ``$expand=members($select=id)`` (100 groups a page): a group with
    fewer than 20 members needs no member listing of its own."""
    memberships: Literal["auto", "groups", "members"] = "auto"
    """Where a full read takes the memberships from: ``groups`` (each group's members, with
    ``expand_members``), ``members`` (each user's and group's ``memberOf``, with managers in a
    second users pass; needs ``batch``), ``auto`` (the members' side when ``batch`` is on, no
    required groups scope the read and the users are partitioned: ``partition_min_pages`` pages
    of 100 or more). A scoped read always takes the groups' side, and so does ``auto`` without
    ``batch``; ``members`` without ``batch`` is refused (a configuration error)."""
    full_sync_every_hours: float = Field(24.0, ge=0)
    """An automatic (``idpsync sync``) run is a full read when the last one is older than this."""

    @field_validator("memberships")
    @classmethod
    def _members_side_batched(cls, value: str, info: Any) -> str:
        if value == "members" and info.data.get("batch") is False:
            raise ValueError(
                'memberships = "members" reads every memberOf listing inside $batch calls:'
                ' set batch = true, or memberships = "groups" (or "auto")'
            )
        return value

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
