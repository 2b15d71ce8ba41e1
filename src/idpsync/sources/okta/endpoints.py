"""The Okta Management API calls the source makes, declared once.

Every listing is a bare JSON array whose next page is named by a ``Link: <…>; rel="next"``
header (:class:`~idpsync.http.paging.LinkHeader`); Okta sends no such link after the last page.
The same table drives the reads, ``idpsync endpoints`` (:func:`endpoint_table`) and
``idpsync check`` (:data:`READS`). :data:`BUCKETS` names the rate-limit bucket each call counts
against, for :class:`~idpsync.sources.okta.pacing.OktaPacer`.
"""

from __future__ import annotations

from collections.abc import Iterable

import httpx

from idpsync.check_reads import Read
from idpsync.http.endpoint import ConcreteEndpoint, Endpoint
from idpsync.http.paging import LinkHeader
from idpsync.sources.okta.settings import OktaSourceSettings

TOKEN = Endpoint(
    "token", "POST", "/oauth2/v1/token", "obtain an access token (OAuth service app)", token=True
)
USERS = Endpoint(
    "list_users",
    "GET",
    "/api/v1/users",
    "list users (and deprovisioned ones by filter)",
    permission="okta.users.read",
    paging=LinkHeader,
    records=None,
)
USER = Endpoint(
    "get_user",
    "GET",
    "/api/v1/users/{id}",
    "read one user by id or login (sync-user)",
    permission="okta.users.read",
    absent=frozenset({404}),
)
USER_GROUPS = Endpoint(
    "user_groups",
    "GET",
    "/api/v1/users/{id}/groups",
    "groups of one user (sync-user only)",
    permission="okta.groups.read",
)
GROUPS = Endpoint(
    "list_groups",
    "GET",
    "/api/v1/groups",
    "list groups",
    permission="okta.groups.read",
    paging=LinkHeader,
    records=None,
)
GROUP_USERS = Endpoint(
    "group_users",
    "GET",
    "/api/v1/groups/{id}/users",
    "members of a group",
    permission="okta.groups.read",
    paging=LinkHeader,
    records=None,
)
LOGS = Endpoint(
    "system_log",
    "GET",
    "/api/v1/logs",
    "System Log events: membership changes and deletions (incremental reads)",
    permission="okta.logs.read",
    paging=LinkHeader,
    records=None,
)
ENDPOINTS = (TOKEN, USERS, USER, USER_GROUPS, GROUPS, GROUP_USERS, LOGS)
"""Every call of the source, the token request first."""

USERS_PAGE = 200
"""``limit`` of the user listings (Okta's largest page)."""
MEMBERS_PAGE = 1000
"""``limit`` of a group's member listing (Okta's largest page)."""
DEPROVISIONED = 'status eq "DEPROVISIONED"'
"""The ``filter`` of the deprovisioned users' listing."""


def bucket_left(response: httpx.Response) -> str:
    """The rate-limit bucket an answer reports, for the detail of a ``check`` step."""
    remaining = response.headers.get("x-rate-limit-remaining", "?")
    return f"bucket {remaining}/{response.headers.get('x-rate-limit-limit', '?')} left"


READS = {
    USERS.name: Read({"limit": "1"}, gives="user", detail=bucket_left),
    USER.name: Read(needs={"id": "user"}),
    USER_GROUPS.name: Read(needs={"id": "user"}),
    GROUPS.name: Read({"limit": "1"}, gives="group"),
    GROUP_USERS.name: Read({"limit": "1"}, needs={"id": "group"}),
    LOGS.name: Read({"limit": "1"}, detail=bucket_left),
}
"""How ``idpsync check`` reads each endpoint."""

BUCKETS = {
    TOKEN.name: "/oauth2/v1/token",
    USERS.name: "/api/v1/users",
    USER.name: "/api/v1/users/{id}",
    USER_GROUPS.name: "/api/v1/users/{id}",
    GROUPS.name: "/api/v1/groups",
    GROUP_USERS.name: "/api/v1/groups/{id}",
    LOGS.name: "/api/v1/logs",
}
"""Okta's rate-limit bucket of each endpoint (named by the path Okta's table uses)."""


def bucket_of(target: ConcreteEndpoint) -> str:
    """The rate-limit bucket a request counts against."""
    return BUCKETS.get(target.endpoint.name, "/api/v1")


def endpoint_table(settings: OktaSourceSettings) -> list[ConcreteEndpoint]:
    """The endpoint table with the org URL filled in (no credentials needed).

    With an API token there is no token request, so the token endpoint is left out; the System
    Log only appears when incremental reads use it (:meth:`OktaSourceSettings.reads_system_log`).
    """
    table: Iterable[Endpoint] = ENDPOINTS
    if settings.api_token is not None:
        table = [e for e in table if e is not TOKEN]
    if not settings.reads_system_log():
        table = [e for e in table if e is not LOGS]
    return [e.resolve(settings.base_url.rstrip("/"), partial=True) for e in table]
