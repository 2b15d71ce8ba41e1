"""The firewall allow-list: every URL the configured connectors and targets reach.

``idpsync endpoints`` and the web check page show it. It is built from the configuration alone
(each source's declared endpoint table, each target's URL and ``http`` settings) and needs no
credentials, so the firewall team can open the way before the secrets exist. When a proxy is in
the way (``http.proxy`` or ``HTTPS_PROXY``) the machine opens only the proxy, and the proxy must
allow ``CONNECT`` to the IdP's hosts: :func:`openings` says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from idpsync.config import ConfigError, LoadedConfig, TargetSettings
from idpsync.errors import SourceError
from idpsync.http.redact import redact_url
from idpsync.http.transport import proxy_for
from idpsync.sources.tables import endpoint_table, network_note


@dataclass
class Row:
    """One URL of the allow-list."""

    name: str
    """The endpoint's name in its source's table (``target`` for a target)."""
    method: str
    url: str
    host: str
    port: int
    scheme: str
    purpose: str
    permission: str | None
    proxy: str | None
    """The proxy the request goes through (credentials redacted), ``None``: direct."""
    used_by: list[str] = field(default_factory=list)
    """Connectors and targets (``target:NAME``) that call it."""

    @property
    def where(self) -> str:
        """``host:port`` of the destination."""
        return f"{self.host}:{self.port}"

    def as_json(self) -> dict[str, Any]:
        """The row as a JSON-ready dict."""
        return asdict(self)


@dataclass
class Opening:
    """One outbound connection the firewall must allow from this machine."""

    address: str
    """``host:port`` this machine connects to (the IdP's host, or the proxy)."""
    proxy: bool = False
    """True when ``address`` is a proxy; :attr:`through` then lists what it must reach."""
    through: list[str] = field(default_factory=list)
    """For a proxy: the ``host:port`` destinations (``CONNECT`` for https)."""
    plain: list[str] = field(default_factory=list)
    """For a proxy: destinations reached with plain-HTTP requests (no ``CONNECT``)."""

    def describe(self) -> str:
        """One line for a person."""
        if not self.proxy:
            return self.address
        text = f"{self.address} (the HTTP proxy; it must allow CONNECT to {', '.join(self.through)}"
        if self.plain:
            text += ("; and plain HTTP to " if self.through else ": plain HTTP to ") + ", ".join(
                self.plain
            )
        return text + ")"


@dataclass
class AllowList:
    """Every row, the openings, and notes for connectors that need no network."""

    rows: list[Row]
    notes: list[str]

    def openings(self) -> list[Opening]:
        """What this machine must be allowed to open (see :func:`openings`)."""
        return openings(self.rows)

    def as_json(self) -> dict[str, Any]:
        """The list for scripts: ``endpoints``, ``hosts`` (destinations), ``open``, ``notes``."""
        return {
            "endpoints": [r.as_json() for r in self.rows],
            "hosts": list(dict.fromkeys(r.where for r in self.rows)),
            "open": [asdict(o) for o in self.openings()],
            "notes": self.notes,
        }


def allow_list(config: LoadedConfig, names: Sequence[str] = ()) -> AllowList:
    """The allow-list of the named connectors/targets, or of all of them (disabled ones too)."""
    settings = config.settings
    unknown = [n for n in names if n not in settings.connectors and n not in settings.targets]
    if unknown:
        known = ", ".join([*sorted(settings.connectors), *sorted(settings.targets)]) or "none"
        problems = [f"no connector or target named {n!r} (known: {known})" for n in unknown]
        raise ConfigError(str(config.path), problems)
    connectors = [n for n in settings.connectors if not names or n in names]
    targets = [n for n in settings.targets if not names or n in names]
    rows: dict[tuple[str, str, str], Row] = {}
    notes: list[str] = []
    for name in connectors:
        connector = settings.connectors[name]
        try:
            table = endpoint_table(connector)
        except SourceError as exc:  # e.g. a OneLogin source without subdomain or base_url
            notes.append(f"{name}: {exc}")
            continue
        if not table:
            notes.append(f"{name}: {network_note(config, connector) or 'no network access'}")
        for target in table:
            proxy = proxy_for(target.url, connector.source.http)
            row = Row(
                target.endpoint.name,
                target.endpoint.method,
                target.url,
                target.host,
                target.port,
                target.scheme,
                target.endpoint.purpose,
                target.endpoint.permission,
                redact_url(proxy) if proxy else None,
            )
            _add(rows, row, name)
    for name in targets:
        _add(rows, target_row(settings.targets[name]), f"target:{name}")
    return AllowList(list(rows.values()), notes)


def _add(rows: dict[tuple[str, str, str], Row], row: Row, user: str) -> None:
    kept = rows.setdefault((row.method, row.url, row.proxy or ""), row)
    if user not in kept.used_by:
        kept.used_by.append(user)


_DEFAULT_PORTS = {"https": 443, "http": 80, "ldaps": 636, "ldap": 389}


def target_row(target: TargetSettings) -> Row:
    """A target's URL as a row (proxy: the target's ``http.proxy``, else ``HTTPS_PROXY``).

    One row covers every call of an HTTP target (method ``*``): the calls of its endpoint
    table (:mod:`idpsync.targets.scim_endpoints`, :mod:`~idpsync.targets.crowd_endpoints`) all
    go below this URL, on its one origin. An LDAP target goes direct.
    """
    if target.type == "ldap":
        url, purpose, proxy = target.url, "write the directory's changes (LDAP)", None
    else:
        from idpsync.targets import base_url, http_settings

        url = base_url(target)
        protocol = {"scim": "SCIM 2.0", "crowd": "Crowd REST"}[target.type]
        purpose = f"push the directory's changes ({protocol})"
        proxy = proxy_for(url, http_settings(target))
    parts = urlsplit(url)
    scheme = parts.scheme
    return Row(
        "target",
        "*" if scheme.startswith("http") else "LDAP",
        url,
        parts.hostname or "",
        parts.port or _DEFAULT_PORTS.get(scheme, 443),
        scheme,
        purpose,
        None,
        redact_url(proxy) if proxy else None,
    )


def openings(rows: Iterable[Row]) -> list[Opening]:
    """Direct destinations as they are; proxied ones grouped under their proxy's address."""
    result: dict[str, Opening] = {}
    for row in rows:
        if row.proxy is None:
            result.setdefault(row.where, Opening(row.where))
            continue
        address = _address(row.proxy)
        opening = result.setdefault("proxy " + address, Opening(address, proxy=True))
        bucket = opening.through if row.scheme == "https" else opening.plain
        if row.where not in bucket:
            bucket.append(row.where)
    return list(result.values())


def _address(proxy: str) -> str:
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"
