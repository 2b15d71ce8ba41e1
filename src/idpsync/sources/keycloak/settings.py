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
    page_size: int = Field(1000, ge=1, le=10000)
    """``max`` of user, group and sub-group pages."""
    members_page_size: int = Field(1000, ge=1, le=10000)
    """``max`` of group member pages (at least the usual group size avoids deep offsets)."""

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
        return self
