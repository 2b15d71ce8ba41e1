"""Endpoints: the API calls a source makes, declared as data.

A source lists its calls once, as :class:`Endpoint` values. The same table drives the fetching
code (every request is made *for* an endpoint, so every error names it), ``idpsync endpoints``
(the allow-list a firewall team needs) and ``idpsync check`` (one minimal read per endpoint).
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

if TYPE_CHECKING:
    from idpsync.http.paging import Paginator


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One API call of an IdP, e.g. ``GET /v1.0/users/{id}/memberOf``."""

    name: str
    """Short identifier, e.g. ``list_users``."""
    method: str
    """HTTP method."""
    url: str
    """URL template: absolute (``https://login.example.com/{tenant}/token``) or relative to the
    source's base URL (``/v1.0/users/{id}/memberOf``)."""
    purpose: str
    """What the source uses it for, in an administrator's words."""
    permission: str | None = None
    """Permission or scope the call needs (e.g. ``User.Read.All``), shown when it is refused."""
    token: bool = False
    """True for the token endpoint: its errors read "Token request failed: …"."""
    paging: Callable[[], Paginator] | None = None
    """For a listing: makes the paginator of one read of it (see :mod:`idpsync.http.paging`)."""
    records: str | None = None
    """For a listing: the body's key holding the records (``value``, ``users``); ``None``: the
    body is the JSON array of records."""
    absent: frozenset[int] = frozenset()
    """Statuses that mean "no such thing" rather than a failure (e.g. 404 for a user without a
    manager): :meth:`~idpsync.http.client.HttpClient.get_json` returns ``None`` for them."""

    @property
    def template_path(self) -> str:
        """The template without scheme and host, e.g. ``/v1.0/users/{id}/memberOf``."""
        if "://" in self.url:
            parts = self.url.split("://", 1)[1]
            return "/" + parts.split("/", 1)[1] if "/" in parts else "/"
        if self.url.startswith("{") and "}" in self.url:
            # ``{base}/realms/{realm}/…``: the leading placeholder is the scheme and host.
            return self.url.split("}", 1)[1] or "/"
        return self.url

    @property
    def label(self) -> str:
        """``METHOD /template`` as shown in errors."""
        return f"{self.method} {self.template_path}"

    def fields(self) -> list[str]:
        """The ``{placeholders}`` of the template."""
        return [f for _, f, _, _ in string.Formatter().parse(self.url) if f]

    def resolve(
        self, base_url: str, values: Mapping[str, str] | None = None, *, partial: bool = False
    ) -> ConcreteEndpoint:
        """Fill in the template; ``partial`` leaves unknown placeholders (e.g. ``{id}``) as is."""
        values = dict(values or {})
        filled: dict[str, str] = {}
        for name in self.fields():
            if name in values:
                # Placeholders that carry a whole base (``{base}``) are not quoted.
                filled[name] = values[name] if name in _RAW else quote(values[name], safe="")
            elif partial:
                filled[name] = "{" + name + "}"
            else:
                raise KeyError(f"{self.label}: no value for {{{name}}}")
        url = self.url.format(**filled)
        if "://" not in url:
            url = base_url.rstrip("/") + "/" + url.lstrip("/")
        return ConcreteEndpoint(self, url)


_RAW = {"base", "org", "domain", "tenant", "realm", "subdomain"}


@dataclass(frozen=True, slots=True)
class ConcreteEndpoint:
    """An endpoint with its URL filled in for one configuration."""

    endpoint: Endpoint
    """The declared endpoint."""
    url: str
    """The absolute URL (query parameters are passed separately)."""
    params: Mapping[str, str] = field(default_factory=dict)
    """Extra query parameters, e.g. for a minimal probe read (``$top=1``)."""

    @property
    def host(self) -> str:
        """Host name of the URL."""
        return urlsplit(self.url).hostname or ""

    @property
    def scheme(self) -> str:
        """``https`` or ``http``."""
        return urlsplit(self.url).scheme

    @property
    def port(self) -> int:
        """Port, with the scheme's default filled in."""
        parts = urlsplit(self.url)
        return parts.port or (443 if parts.scheme == "https" else 80)

    @property
    def where(self) -> str:
        """``host`` as shown in errors (with the port when it is not the default)."""
        default = 443 if self.scheme == "https" else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"
