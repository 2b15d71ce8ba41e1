"""The ``source`` table of a Google connector (``type = "google"``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from idpsync.config_urls import HttpUrlText
from idpsync.photos import DEFAULT_BUDGET, DEFAULT_MAX_BYTES
from idpsync.settings import Secret
from idpsync.sources.settings import SourceBase


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
    custom_schemas: list[str] = Field(default_factory=list)
    """Custom schemas whose fields are read into ``attributes.customSchemas`` (users listing
    and reads with ``projection=custom&customFieldMask=…``; ``["*"]``: every schema,
    ``projection=full``). Empty (default): none, as Google's default projection."""
    fetch_photos: bool = False
    """Read every user's photo (one request per user with a photo) for ``photo_ref``."""
    photo_max_bytes: int = Field(DEFAULT_MAX_BYTES, ge=1, le=10 * 1024 * 1024)
    """With ``fetch_photos``: the largest photo kept, in bytes; a larger one is refused and
    reported (the user still syncs)."""
    photo_budget: int = Field(DEFAULT_BUDGET, ge=0)
    """With ``fetch_photos``: photos downloaded per run; the others wait for the next run and
    are reported as pending (0: none are downloaded, versions are still read)."""
    nested: bool = False
    """List members with ``includeDerivedMembership``: members of nested groups count as
    direct members of every group above them."""
    quota: int = Field(2400, ge=1, le=1_000_000)
    """Directory API queries per minute the connector may use (the project's quota per user)."""
    batch_size: int = Field(1000, ge=0, le=1000)
    """Calls at most in one batch request (Google allows 1,000, the default); 0: none, one
    request a page. Each call in a batch still counts against ``quota``, and the batches roll
    within it (:mod:`idpsync.sources.google.rolling`): at the default quota a batch carries
    what the quota allows per round trip, so this cap binds only when ``quota`` is raised. A
    full batch of member pages answers about 40 MB."""
    incremental: Literal["off", "reports"] = "off"
    """``reports``: between full reads, read what changed from the Admin SDK Reports API's
    admin activity log (needs the ``admin.reports.audit.readonly`` scope)."""
    quota_burst: float = Field(1.0, ge=0, le=1)
    """The share of the per-minute ``quota`` a read may send at once beyond the budget's pace:
    a full read's first member calls (the first refused call ends it), and with ``incremental
    = "reports"`` the users and groups the log names, when the quota has had that long to
    refill since the last read ended (Google counts queries per minute; see
    ``docs/sources/google.md``). 0: never more than the budget's one second's worth."""
    report_overlap_minutes: float = Field(15.0, ge=0, le=1440)
    """How far before the last read the activity log is read again (events arrive late)."""
    report_reread_share: float = Field(0.5, ge=0, le=1)
    """An incremental read turns into a full one when more than this share of all groups would
    have their member listings read again (events it cannot apply to the mirror's edges)."""
    full_reconcile_hours: float = Field(24.0, ge=0)
    """An incremental read turns into a full one when the last full read is this old."""

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
        if "*" in self.custom_schemas and len(self.custom_schemas) > 1:
            raise ValueError("custom_schemas: '*' (every schema) stands alone")
        if any(not n.strip() or "," in n for n in self.custom_schemas):
            raise ValueError("custom_schemas: each entry is one schema name (no commas)")
        if self.incremental == "reports" and self.nested:
            raise ValueError(
                "incremental = 'reports' cannot be combined with nested = true (a membership "
                "change touches every group above it); use one or the other"
            )
        return self
