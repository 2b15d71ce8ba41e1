"""The calls the OneLogin source makes, declared once: URL, paging, where the records are.

OneLogin has two API generations and each pages its own way:

* ``/api/2/…`` listings answer with a bare JSON array and put the next page's cursor in the
  ``After-Cursor`` header, sent back as ``cursor=…``;
* ``/api/1/…`` listings answer ``{"pagination": {"after_cursor": "…"}, "data": […]}``, the
  cursor sent back as ``after_cursor=…``.

Either way an absent or empty cursor ends the listing, and a cursor handed out twice ends it
with a reason (:class:`~idpsync.errors.RepeatedPage`) instead of a loop. The same table drives
``idpsync endpoints`` (the allow-list) and ``idpsync check`` (:data:`READS`).
"""

from __future__ import annotations

from typing import Any

from idpsync.check_reads import Read
from idpsync.errors import SourceError
from idpsync.http.endpoint import ConcreteEndpoint, Endpoint
from idpsync.http.paging import BodyToken, HeaderCursor, Page
from idpsync.http.shape import page_items
from idpsync.sources.onelogin.settings import OneLoginSourceSettings

PAGE_SIZE = 50
"""OneLogin's page: v1 is fixed at 50 and v2 ``/api/2/users`` returns at most 50."""
V1_RECORDS = "data"
"""Where a v1 answer keeps its records (a listing's page, and one group read alone)."""


def v1_cursor() -> BodyToken:
    """The paginator of one v1 listing: ``pagination.after_cursor`` → ``after_cursor=…``."""
    return BodyToken("pagination.after_cursor", "after_cursor")


_ABSENT = frozenset({404})

TOKEN = Endpoint("token", "POST", "/auth/oauth2/v2/token", "obtain an access token", token=True)
RATE_LIMIT = Endpoint(
    "rate_limit", "GET", "/auth/rate_limit", "read the account's remaining hourly API calls"
)
USERS = Endpoint(
    "list_users", "GET", "/api/2/users", "list users (with group_id and role_ids)",
    permission="Read users", paging=HeaderCursor, records=None,
)  # fmt: skip
USER = Endpoint(
    "get_user", "GET", "/api/2/users/{id}", "read one user (sync-user)",
    permission="Read users", absent=_ABSENT,
)  # fmt: skip
GROUPS = Endpoint(
    "list_groups", "GET", "/api/1/groups", "list groups (groups_from = groups | both)",
    permission="Read users", paging=v1_cursor, records=V1_RECORDS,
)  # fmt: skip
ROLES = Endpoint(
    "list_roles", "GET", "/api/2/roles", "list roles (groups_from = roles | both)",
    permission="Read All", paging=HeaderCursor, records=None,
)  # fmt: skip
GROUP = Endpoint(
    "get_group", "GET", "/api/1/groups/{id}", "read one group (sync-user)",
    permission="Read users", absent=_ABSENT,
)  # fmt: skip
ROLE = Endpoint(
    "get_role", "GET", "/api/2/roles/{id}", "read one role (sync-user)",
    permission="Read All", absent=_ABSENT,
)  # fmt: skip
ROLE_USERS = Endpoint(
    "role_users", "GET", "/api/2/roles/{id}/users",
    "list a role's users (only when user records lack role_ids)", permission="Read All",
    paging=HeaderCursor, records=None,
)  # fmt: skip
ENDPOINTS = (TOKEN, RATE_LIMIT, USERS, USER, GROUPS, ROLES, GROUP, ROLE, ROLE_USERS)
"""Every call the source can make (``idpsync endpoints`` lists the ones a configuration uses)."""

READS = {
    USERS.name: Read({"limit": "1"}, gives="user"),
    USER.name: Read(needs={"id": "user"}),
    GROUPS.name: Read(gives="group"),
    GROUP.name: Read(needs={"id": "group"}),
    ROLES.name: Read({"limit": "1"}, gives="role"),
    ROLE.name: Read(needs={"id": "role"}),
    ROLE_USERS.name: Read({"limit": "1"}, needs={"id": "role"}),
}
"""How ``idpsync check`` reads each endpoint."""

USER_FIELDS = (
    "id,username,email,firstname,lastname,title,department,company,phone,group_id,role_ids,"
    "status,state,manager_user_id,external_id,created_at,updated_at,custom_attributes"
)
"""The ``fields`` a users listing asks for: what the records read, and ``created_at`` for the
proof that no user was added while the pages were read (:mod:`.paged`)."""


def page_records(page: Page, endpoint: Endpoint) -> list[Any]:
    """The records of a listing's page; a v1 page without its ``data`` list is malformed.

    A v1 answer always carries ``data`` (an empty list on the last page): one without it is a
    broken page, and reading it as "no records" would make a cut-off listing look complete.
    """
    if endpoint.records is None:
        return page.records
    return page_items(page.body, endpoint.records, endpoint.label, required=True)


def base_url(settings: OneLoginSourceSettings) -> str:
    """``base_url`` or ``https://{subdomain}.onelogin.com``."""
    if settings.base_url:
        return settings.base_url.rstrip("/")
    if not settings.subdomain:
        raise SourceError(
            "source.subdomain (or source.base_url) is required for a onelogin source: "
            "set subdomain = 'acme' for https://acme.onelogin.com"
        )
    return f"https://{settings.subdomain}.onelogin.com"


def endpoint_table(
    settings: OneLoginSourceSettings, base: str | None = None
) -> list[ConcreteEndpoint]:
    """The calls this configuration makes (no credentials needed)."""
    used = [TOKEN, RATE_LIMIT, USERS, USER]
    if settings.groups_from in ("groups", "both"):
        used += [GROUPS, GROUP]
    if settings.groups_from in ("roles", "both"):
        used += [ROLES, ROLE, ROLE_USERS]
    return [e.resolve(base or base_url(settings), partial=True) for e in used]
