"""The ``source`` table of a Okta connector (``type = "okta"``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from idpsync.config_urls import HttpUrlText
from idpsync.settings import Secret
from idpsync.sources.settings import SourceBase

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
    user_partitions: int = Field(2, ge=1, le=32)
    """Lower ``lastUpdated`` ranges a full read lists side by side, once a complete full read
    has saved their bounds (:mod:`~idpsync.sources.okta.partitions`); each takes one request
    slot from the member listings, as the users and deprovisioned chains do. 1: one chain."""
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
    incremental: Literal["system_log", "timestamps"] = "system_log"
    """Where an incremental read learns which memberships changed: the System Log
    (``/api/v1/logs``, needs ``okta.logs.read``; falls back to ``timestamps`` whenever the log
    cannot be used) or re-listing every group whose ``lastMembershipUpdated`` moved."""
    log_overlap_seconds: float = Field(300.0, ge=5.0, le=86400.0)
    """How far before the saved mark the System Log is read again (its events are eventually
    consistent; replaying an event is harmless)."""
    org_concurrency: int = Field(15, ge=1, le=1000)
    """Okta's concurrent-request limit of the org (15 Integrator Free, 35 or 75 larger tiers).
    Without ``http.concurrency`` the source keeps ``org_concurrency − 3`` requests in flight,
    leaving 3 to the org's other integrations; ``http.concurrency`` may not exceed it."""

    @model_validator(mode="after")
    def _one_credential(self) -> OktaSourceSettings:
        app = self.client_id is not None or self.private_key is not None
        if self.api_token is not None and app:
            raise ValueError("give either api_token or client_id + private_key, not both")
        if self.api_token is None and not (self.client_id and self.private_key):
            raise ValueError("needs api_token, or client_id and private_key (OAuth service app)")
        wanted = self.http.concurrency
        if wanted is not None and wanted > self.org_concurrency:
            raise ValueError(
                f"http.concurrency = {wanted} is above org_concurrency = {self.org_concurrency}"
                " (Okta's concurrent-request limit of the org); raise org_concurrency if the"
                " org's tier allows more"
            )
        return self

    def default_concurrency(self) -> int:
        """Requests in flight when ``http.concurrency`` is not set (see ``org_concurrency``)."""
        return max(1, self.org_concurrency - 3)

    def reads_system_log(self) -> bool:
        """Whether incremental reads use the System Log (OAuth apps need ``okta.logs.read``)."""
        if self.incremental != "system_log":
            return False
        return self.api_token is not None or "okta.logs.read" in self.scopes
