"""Microsoft's national clouds: where Graph and the token service live, and the token scope.

The scope names the *resource* the token is for. Entra knows Graph by its service root in each
cloud; any other host (a gateway, a proxy, an emulator's address) is an unknown resource and the
token request fails with ``AADSTS500011``. So the scope comes from the ``cloud`` setting (or an
explicit ``scope``), never from ``base_url``.

Sources: Microsoft Graph "national cloud deployments" (service root and Entra endpoints per
cloud) and "Access national cloud deployments with the Microsoft Graph SDKs" (a scope that
contains the Graph domain uses that cloud's service root).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from idpsync.http.endpoint import ConcreteEndpoint
from idpsync.sources.entra import endpoints as ep
from idpsync.sources.entra.settings import EntraSourceSettings

CloudName = Literal["global", "usgov", "dod", "china"]


@dataclass(frozen=True, slots=True)
class Cloud:
    """One national cloud's Graph service root and Entra (token service) root."""

    graph: str
    """Graph service root, e.g. ``https://graph.microsoft.com``."""
    login: str
    """Microsoft Entra endpoint, e.g. ``https://login.microsoftonline.com``."""

    @property
    def scope(self) -> str:
        """The client-credentials scope: Graph's service root with ``/.default``."""
        return f"{self.graph}/.default"

    @property
    def token_url(self) -> str:
        """The v2.0 token endpoint template (``{tenant}`` left to fill)."""
        return f"{self.login}/{{tenant}}/oauth2/v2.0/token"


CLOUDS: dict[str, Cloud] = {
    "global": Cloud("https://graph.microsoft.com", "https://login.microsoftonline.com"),
    "usgov": Cloud("https://graph.microsoft.us", "https://login.microsoftonline.us"),
    "dod": Cloud("https://dod-graph.microsoft.us", "https://login.microsoftonline.us"),
    "china": Cloud("https://microsoftgraph.chinacloudapi.cn", "https://login.chinacloudapi.cn"),
}
"""``cloud`` setting → endpoints: global, US Government L4 (GCC High), L5 (DoD), China
(operated by 21Vianet)."""


def cloud(name: str) -> Cloud:
    """The named cloud (the settings only allow the names of :data:`CLOUDS`)."""
    return CLOUDS[name]


def graph_base(settings: EntraSourceSettings) -> str:
    """The Graph base URL: ``base_url``, else the cloud's service root and the API version."""
    root = settings.base_url or f"{cloud(settings.cloud).graph}/{settings.api_version}"
    return root.rstrip("/")


def token_target(settings: EntraSourceSettings) -> ConcreteEndpoint:
    """The token endpoint: ``token_url``, else the cloud's token service for the tenant."""
    if settings.token_url:
        return ConcreteEndpoint(ep.TOKEN, settings.token_url)
    token = replace(ep.TOKEN, url=cloud(settings.cloud).token_url)
    return token.resolve("", {"tenant": settings.tenant})


def endpoint_table(settings: EntraSourceSettings, transitive: bool) -> list[ConcreteEndpoint]:
    """Token endpoint and every Graph call this configuration makes (no credentials needed)."""
    base = graph_base(settings)
    table = [
        ep.USERS,
        ep.GROUPS,
        ep.MEMBERS,
        ep.USERS_DELTA,
        ep.GROUPS_DELTA,
        ep.USER,
        ep.MEMBER_OF,
    ]
    if settings.batch:
        table.append(ep.BATCH)
    if transitive:
        table.append(ep.GROUP_MEMBER_OF)
    if settings.fetch_managers:
        table.append(ep.MANAGER)
    if settings.fetch_photos:
        table += [ep.PHOTO, ep.PHOTO_VALUE]
    return [token_target(settings), *(e.resolve(base, partial=True) for e in table)]
