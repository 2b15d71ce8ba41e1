"""The ``source`` table of a Keycloak connector (``type = "keycloak"``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from idpsync.settings import Secret
from idpsync.sources.settings import SourceBase


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
    page_size: int = Field(1_000_000, ge=1, le=10_000_000)
    """``max`` of user, group and sub-group pages: large, so a realm's users come in one answer
    (each further page is a deeper offset the server skips; see docs/sources/keycloak.md)."""
    members_page_size: int = Field(1_000_000, ge=1, le=10_000_000)
    """``max`` of group member pages (above the largest group's size: one answer a group)."""
    user_attributes: bool | None = None
    """Read each user's custom ``attributes`` (the user list with ``briefRepresentation=false``):
    ``true`` always, ``false`` never, unset (default) when the connector's policy (a mapping
    template or a filter) or a template of a target receiving the connector (the default HR
    templates included) mentions ``attributes.attributes``. Same request count; bigger pages
    and more server work per user (see docs/sources/keycloak.md)."""
    admin_events: bool = False
    """``true``: between full reads, read only what the realm's admin events say changed
    (needs ``adminEventsEnabled`` on the realm and the realm-management role view-events)."""
    full_sync_every_hours: float = Field(24.0, gt=0)
    """With ``admin_events``: an automatic run reads everything when the last full read is
    this old (changes made outside the Admin API are not admin events)."""
    events_overlap_seconds: int = Field(300, ge=0, le=86400)
    """With ``admin_events``: events are read again from this long before the last read
    started (server clock), so clock steps and events written late are not missed."""

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
        if self.admin_events and self.flatten_subgroups:
            raise ValueError(
                "admin_events = true needs flatten_subgroups = false: a membership event names "
                "one group, and a flattened read cannot tell which sub-group an edge came from"
            )
        return self
