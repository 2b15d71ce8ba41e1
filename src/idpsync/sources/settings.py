"""Settings every source has (each connector's own are in ``sources/<idp>/settings.py``)."""

from __future__ import annotations

from idpsync.config_urls import HttpUrlText
from idpsync.http.settings import HttpSettings
from idpsync.settings import Strict


class SourceBase(Strict):
    """Settings every source has."""

    base_url: HttpUrlText | None = None
    """Override of the IdP's API base URL (national clouds, custom domains, proxies, emulators)."""
    token_url: HttpUrlText | None = None
    """Override of the IdP's token endpoint URL."""
    http: HttpSettings = HttpSettings()
    """HTTP client settings."""
