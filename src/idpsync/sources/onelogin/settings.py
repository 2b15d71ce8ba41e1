"""The ``source`` table of a OneLogin connector (``type = "onelogin"``)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from idpsync.settings import Secret
from idpsync.sources.settings import SourceBase


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
    parallel_pages: bool = True
    """Read the pages of a v2 listing (users, roles) by number, ``http.concurrency`` at a time,
    once the first page tells ``Total-Pages``, instead of one ``After-Cursor`` chain. The
    pages must prove the listing whole (see ``docs/sources/onelogin.md``), else it is read
    again; ``false`` keeps the chain."""
    incremental_groups: Literal["all", "named"] = "all"
    """What an incremental read asks of ``/api/1/groups`` (``groups_from`` = groups | both).
    ``all`` lists every group: a v1 cursor chain, ⌈groups / 50⌉ requests one after the other,
    which sees renamed and deleted groups at once. ``named`` reads by id only the groups that
    changed users name and the directory does not hold yet: renamed and deleted groups then
    wait for the next full read, as deleted users do."""
    full_sync_every_hours: float = Field(24.0, ge=0)
    """An automatic (``idpsync sync``) run is a full read when the last one is older than this;
    the others read only users updated since the last read (deleted users wait for a full one)."""

    @field_validator("subdomain")
    @classmethod
    def _subdomain(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}", value):
            raise ValueError("use the bare subdomain, e.g. 'acme' for acme.onelogin.com")
        return value
