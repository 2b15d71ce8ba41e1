"""The calls the Keycloak connector makes: the endpoint table, its ``check`` reads, its URLs.

Every URL starts with ``{base}``: the server's root as found for this run, with ``/auth`` on
Keycloak 16 and older (see :class:`~idpsync.sources.keycloak.auth.RealmRoot`). The HTTP
client's own base URL stays the configured one; only the value of ``{base}`` changes once the
prefix is known. Listings page by offset (``first``/``max``) and answer with a bare JSON array.
"""

from __future__ import annotations

from idpsync.check_reads import Read
from idpsync.http import ConcreteEndpoint, Endpoint
from idpsync.http.paging import Offset
from idpsync.sources.keycloak.settings import KeycloakSourceSettings

DEFAULT_PAGE = 1_000_000
"""``max`` of a page when the settings do not say (their own default is the same)."""


def offset(size: int = DEFAULT_PAGE, total: int | None = None) -> Offset:
    """Keycloak's paging: ``first=0&max=size``, then the next offset, until a short page.

    ``total`` ends the listing once that many records have arrived (a group's
    ``subGroupCount`` for its children), saving the empty page that would confirm it.
    """
    return Offset(size, offset="first", limit="max", total=total)


REALM_PATH = "{base}/realms/{realm}"
ADMIN = "{base}/admin/realms/{realm}"

TOKEN = Endpoint(
    "token",
    "POST",
    REALM_PATH + "/protocol/openid-connect/token",
    "obtain an access token",
    token=True,
)
REALM = Endpoint("realm", "GET", REALM_PATH, "detect the /auth path prefix (Keycloak ≤ 16)")
USERS = Endpoint(
    "list_users",
    "GET",
    ADMIN + "/users",
    "list users",
    permission="query-users",
    paging=offset,
    records=None,
)
USER = Endpoint(
    "get_user",
    "GET",
    ADMIN + "/users/{id}",
    "read one user",
    permission="view-users",
    absent=frozenset({404}),
)
USER_GROUPS = Endpoint(
    "user_groups",
    "GET",
    ADMIN + "/users/{id}/groups",
    "groups of one user",
    "view-users",
    paging=offset,
    records=None,
)
GROUPS = Endpoint(
    "list_groups",
    "GET",
    ADMIN + "/groups",
    "list groups",
    "query-groups",
    paging=offset,
    records=None,
)
CHILDREN = Endpoint(
    "group_children",
    "GET",
    ADMIN + "/groups/{id}/children",
    "sub-groups",
    "query-groups",
    paging=offset,
    records=None,
)
MEMBERS = Endpoint(
    "group_members",
    "GET",
    ADMIN + "/groups/{id}/members",
    "members of a group",
    "view-users",
    paging=offset,
    records=None,
)
EVENTS_CONFIG = Endpoint(
    "events_config",
    "GET",
    ADMIN + "/events/config",
    "whether the realm saves admin events (admin_events)",
    "view-events",
)
ADMIN_EVENTS = Endpoint(
    "admin_events",
    "GET",
    ADMIN + "/admin-events",
    "admin events since the last read (admin_events)",
    "view-events",
    paging=offset,
    records=None,
)
ENDPOINTS = (TOKEN, REALM, USERS, USER, USER_GROUPS, GROUPS, CHILDREN, MEMBERS)
"""Every call, in the order ``idpsync endpoints`` lists them."""
EVENT_ENDPOINTS = (EVENTS_CONFIG, ADMIN_EVENTS)
"""The calls of incremental reads, listed only with ``admin_events = true``."""

BRIEF = {"briefRepresentation": "true"}
FULL = {"briefRepresentation": "false"}
"""The user list and searches with ``user_attributes``: representations with ``attributes``."""
"""Sent with every listing: the short representation is all the connector reads."""

_ONE = {**BRIEF, "max": "1"}
READS = {
    USERS.name: Read(_ONE, gives="user"),
    USER.name: Read(needs={"id": "user"}),
    USER_GROUPS.name: Read(_ONE, needs={"id": "user"}),
    GROUPS.name: Read(_ONE, gives="group"),
    CHILDREN.name: Read(_ONE, needs={"id": "group"}),
    MEMBERS.name: Read(_ONE, needs={"id": "group"}),
    EVENTS_CONFIG.name: Read(),
    ADMIN_EVENTS.name: Read({"max": "1"}),
}
"""How ``idpsync check`` reads each endpoint."""


def root_url(settings: KeycloakSourceSettings) -> str:
    """The server's root URL, with ``/auth`` when ``auth_prefix`` says so."""
    root = (settings.base_url or "").rstrip("/")
    return root + "/auth" if settings.auth_prefix and not root.endswith("/auth") else root


def token_target(settings: KeycloakSourceSettings, root: str) -> ConcreteEndpoint:
    """The token endpoint: the service account's realm, or the administrator's."""
    if settings.token_url:
        return ConcreteEndpoint(TOKEN, settings.token_url)
    realm = settings.realm if settings.client_id is not None else settings.admin_realm
    return TOKEN.resolve(root, {"base": root, "realm": realm})


def endpoint_table(
    settings: KeycloakSourceSettings, root: str | None = None
) -> list[ConcreteEndpoint]:
    """Every endpoint, URLs filled in for this configuration (no credentials needed).

    ``root`` is the server's root once found; by default the configured one.
    """
    root = root or root_url(settings)
    values = {"base": root, "realm": settings.realm}
    detect = [REALM.resolve(root, values)] if settings.auth_prefix is None else []
    extra = EVENT_ENDPOINTS if settings.admin_events else ()
    api = [ep.resolve(root, values, partial=True) for ep in (*ENDPOINTS[2:], *extra)]
    return [token_target(settings, root), *detect, *api]
