"""The Google Directory API v1 calls of the connector, declared once.

The same table drives the reader (:mod:`idpsync.sources.google.reader`), ``idpsync
endpoints`` (the allow-list a firewall team needs) and ``idpsync check`` (:func:`reads`: one
minimal read per row). Every listing pages with a ``nextPageToken`` in the body, sent back
as ``pageToken`` (:class:`~idpsync.http.paging.BodyToken`); Google leaves the item list out
of an empty page, which reads as a page without records. A token seen twice in one listing
ends that listing with a reason instead of looping.
"""

from __future__ import annotations

from idpsync.check_reads import Read
from idpsync.http import ConcreteEndpoint, Endpoint
from idpsync.http.paging import BodyToken
from idpsync.sources.google.settings import GoogleSourceSettings

GOOGLE_API = "https://admin.googleapis.com"
GOOGLE_TOKEN = "https://oauth2.googleapis.com/token"
GOOGLE_CONSENT = "https://accounts.google.com/o/oauth2/v2/auth"
_SCOPE = "https://www.googleapis.com/auth/admin.directory."
USER_SCOPE = _SCOPE + "user.readonly"
GROUP_SCOPE = _SCOPE + "group.readonly"
MEMBER_SCOPE = _SCOPE + "group.member.readonly"
SCOPES = (USER_SCOPE, GROUP_SCOPE, MEMBER_SCOPE)
REPORTS_SCOPE = "https://www.googleapis.com/auth/admin.reports.audit.readonly"
"""Needed only with ``incremental = "reports"`` (the admin activity log)."""
USER_PAGE, GROUP_PAGE, MEMBER_PAGE = 500, 200, 200
"""Google's maximum ``maxResults`` for users, groups and members."""

TOKEN = Endpoint("token", "POST", GOOGLE_TOKEN, "obtain an access token", token=True)
USERS = Endpoint(
    "list_users",
    "GET",
    "/admin/directory/v1/users",
    "list users",
    permission=USER_SCOPE,
    paging=BodyToken,
    records="users",
)
USER = Endpoint(
    "get_user",
    "GET",
    "/admin/directory/v1/users/{userKey}",
    "read one user",
    USER_SCOPE,
    absent=frozenset({404, 412}),  # 412: deleted in the last ~20 days
)
PHOTO = Endpoint(
    "user_photo",
    "GET",
    "/admin/directory/v1/users/{userKey}/photos/thumbnail",
    "read a user's photo",
    USER_SCOPE,
    absent=frozenset({404}),  # the user has no photo
)
GROUPS = Endpoint(
    "list_groups",
    "GET",
    "/admin/directory/v1/groups",
    "list groups (all, or a user's direct groups)",
    GROUP_SCOPE,
    paging=BodyToken,
    records="groups",
)
GROUP = Endpoint(
    "get_group",
    "GET",
    "/admin/directory/v1/groups/{groupKey}",
    "read one group (is a group whose members answered 404 really gone?)",
    GROUP_SCOPE,
    absent=frozenset({404}),  # deleted while the members were read
)
MEMBERS = Endpoint(
    "list_members",
    "GET",
    "/admin/directory/v1/groups/{groupKey}/members",
    "list a group's members",
    MEMBER_SCOPE,
    paging=BodyToken,
    records="members",
)
MEMBER = Endpoint(
    "get_member",
    "GET",
    "/admin/directory/v1/groups/{groupKey}/members/{memberKey}",
    'is a user a direct member of a group (incremental = "reports": two events of one pair '
    "at the same time)",
    MEMBER_SCOPE,
    absent=frozenset({404}),  # not a direct member
)
BATCH = Endpoint(
    "batch",
    "POST",
    "/batch/admin/directory_v1",
    "send up to batch_size member listing pages (incremental: the users and groups the log "
    "names) in one request (each counts against the quota)",
    MEMBER_SCOPE,
)
ACTIVITIES = Endpoint(
    "admin_activities",
    "GET",
    "/admin/reports/v1/activity/users/all/applications/admin",
    'read the admin activity log since the last run (incremental = "reports")',
    REPORTS_SCOPE,
    paging=BodyToken,
    records="items",
)
ACTIVITY_PAGE = 1000
"""The Reports API's maximum ``maxResults``."""
DIRECTORY = (USERS, GROUPS, MEMBERS, GROUP, USER)
"""The Directory calls of every configuration (:data:`PHOTO` only with ``fetch_photos``)."""


def token_endpoint(settings: GoogleSourceSettings) -> ConcreteEndpoint:
    """The token endpoint: ``token_url``, else Google's."""
    return ConcreteEndpoint(TOKEN, settings.token_url or GOOGLE_TOKEN)


def scopes_for(settings: GoogleSourceSettings) -> tuple[str, ...]:
    """The scopes a configuration asks for (the Reports scope only for incremental reads)."""
    return (*SCOPES, REPORTS_SCOPE) if settings.incremental == "reports" else SCOPES


def endpoint_table(
    settings: GoogleSourceSettings, base: str | None = None
) -> list[ConcreteEndpoint]:
    """Token endpoint and the Directory calls (per-object keys left as placeholders)."""
    base = base or settings.base_url or GOOGLE_API
    table = [*DIRECTORY, PHOTO] if settings.fetch_photos else list(DIRECTORY)
    table += [BATCH] if settings.batch_size else []
    table += [ACTIVITIES, MEMBER] if settings.incremental == "reports" else []
    return [token_endpoint(settings)] + [ep.resolve(base, partial=True) for ep in table]


def scope_params(customer: str, domain: str | None) -> dict[str, str]:
    """``customer=…`` or ``domain=…`` for the users and groups listings."""
    return {"domain": domain} if domain else {"customer": customer}


def projection(settings: GoogleSourceSettings) -> dict[str, str]:
    """The user reads' projection: none, the listed custom schemas, or all of them.

    No parameter (Google's ``basic``), ``projection=custom&customFieldMask=a,b``, or
    ``projection=full`` for ``["*"]``.
    """
    names = settings.custom_schemas
    if not names:
        return {}
    if names == ["*"]:
        return {"projection": "full"}
    return {"projection": "custom", "customFieldMask": ",".join(names)}


def reads(settings: GoogleSourceSettings) -> dict[str, Read]:
    """How ``idpsync check`` reads each row: one item of each listing, then one of each object."""
    one = {**scope_params(settings.customer, settings.domain), "maxResults": "1"}
    return {
        USERS.name: Read({**one, **projection(settings)}, gives="user"),
        GROUPS.name: Read(one, gives="group"),
        MEMBERS.name: Read({"maxResults": "1"}, needs={"groupKey": "group"}),
        GROUP.name: Read(needs={"groupKey": "group"}),
        USER.name: Read(projection(settings), needs={"userKey": "user"}),
        PHOTO.name: Read(needs={"userKey": "user"}, absent="this user has no photo"),
        ACTIVITIES.name: Read({"maxResults": "1"}),
        MEMBER.name: Read(
            needs={"groupKey": "group", "memberKey": "user"},
            absent="the example user is not in the example group",
        ),
    }
