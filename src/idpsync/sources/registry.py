"""Which connector reads which ``type``: one entry per IdP, one way to build any of them.

Every connector is a package ``idpsync.sources.<type>`` with a ``settings`` module (its
``source`` table), a ``mapping`` module (``PRESET``, its default field templates) and a function
``build(context: SourceContext) -> Source``. Adding an IdP is
adding its package and one line to :data:`CONNECTORS` (see docs/architecture.md, "Add an IdP").
Packages are imported only when a connector of their type is built, so a configuration with
one Okta connector never imports the Google client.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import httpx

from idpsync.errors import SourceError

if TYPE_CHECKING:
    from idpsync.config import ConnectorSettings, LoadedConfig
    from idpsync.sources.base import Source

CONNECTORS: dict[str, str] = {
    "entra": "idpsync.sources.entra",
    "file": "idpsync.sources.file",
    "google": "idpsync.sources.google",
    "keycloak": "idpsync.sources.keycloak",
    "okta": "idpsync.sources.okta",
    "onelogin": "idpsync.sources.onelogin",
}
"""``type`` of a ``source`` table → the package that reads that IdP."""


@dataclass(frozen=True, slots=True)
class SourceContext:
    """Everything a connector is built from: the one argument of every ``build``."""

    name: str
    """The connector's name in the configuration (``[connectors.NAME]``)."""
    connector: ConnectorSettings
    """The connector's whole table: ``source`` (its settings), ``policy``, ``guard``."""
    config: LoadedConfig
    """The loaded configuration (relative paths, the store holding the token vault)."""
    transport: httpx.AsyncBaseTransport | None = None
    """The HTTP transport to use instead of the network (tests: an emulator's)."""


class Builder(Protocol):
    """The ``build`` function of a connector package."""

    def __call__(self, context: SourceContext) -> Source: ...


def builder(kind: str) -> Builder:
    """The ``build`` function for a source ``type``; :class:`SourceError` for an unknown one."""
    module = CONNECTORS.get(kind)
    if module is None:
        raise SourceError(f"unsupported source type {kind!r}")
    build: Builder = importlib.import_module(module).build
    return build


def preset(kind: str) -> Mapping[str, str]:
    """The mapping preset of a source ``type``: its template per directory field.

    Only the connector's small ``mapping`` module is imported, not its reader. A type without a
    connector has no preset (every field is copied as read).
    """
    package = CONNECTORS.get(kind)
    if package is None:
        return {}
    templates: dict[str, str] = importlib.import_module(f"{package}.mapping").PRESET
    return templates


def connector_name(config: LoadedConfig, settings: ConnectorSettings) -> str:
    """The name under which ``settings`` appear in the configuration."""
    found = (n for n, c in config.settings.connectors.items() if c is settings)
    return next(found, "CONNECTOR")


def build_source(
    config: LoadedConfig,
    settings: ConnectorSettings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Source:
    """The source object for a connector's settings."""
    context = SourceContext(connector_name(config, settings), settings, config, transport)
    return builder(settings.source.type)(context)


__all__ = [
    "CONNECTORS",
    "SourceContext",
    "build_source",
    "builder",
    "connector_name",
    "preset",
]
