"""Microsoft Graph's endpoint table for the Entra source, and its failure rule.

The table drives the fetching code, ``idpsync endpoints`` and ``idpsync check``; each
endpoint names the application permission a 403 means is missing. Listings follow Graph's
``@odata.nextLink`` and hold their objects under ``value``; the delta listings follow next
links until Graph gives a ``@odata.deltaLink`` (:class:`~idpsync.sources.entra.paging.DeltaPages`).

The manager and photo reads declare no ``absent`` status: a 404 there means "no manager" or
"no photo" only when Graph's error code says so (``Request_ResourceNotFound``,
``ImageNotFound``), so the reader checks the code (see
:func:`idpsync.sources.entra.records.is_missing`).
"""

from __future__ import annotations

import httpx

from idpsync.check_reads import Read
from idpsync.http import Endpoint
from idpsync.http.failure import FailureRule
from idpsync.http.paging import BodyLink
from idpsync.sources.entra.paging import DeltaPages

GRAPH = "https://graph.microsoft.com"
LOGIN = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
PAGE = "999"
"""Graph's largest page for directory listings."""
DEFAULT_RATE = 150.0
"""Requests per second: at ≤ 2 RU each, under half of Graph's 8,000 RU per 10 s."""
DEFAULT_CONCURRENCY = 16
"""Requests at once, unless ``http.concurrency`` says otherwise."""


def _listing(name: str, url: str, purpose: str, permission: str) -> Endpoint:
    """A ``GET`` listing paged by ``@odata.nextLink``, its objects under ``value``."""
    return Endpoint(
        name, "GET", url, purpose, permission=permission, paging=BodyLink, records="value"
    )


TOKEN = Endpoint("token", "POST", LOGIN, "obtain an access token", token=True)
USERS = _listing("list_users", "/users", "list users", "User.Read.All")
USER = Endpoint("get_user", "GET", "/users/{id}", "read one user", permission="User.Read.All")
MANAGER = Endpoint(
    "manager", "GET", "/users/{id}/manager", "read a user's manager", permission="User.Read.All"
)
MEMBER_OF = _listing(
    "member_of",
    "/users/{id}/memberOf",
    "groups a user is directly in (single-user sync)",
    "GroupMember.Read.All",
)
GROUP_MEMBER_OF = _listing(
    "group_member_of",
    "/groups/{id}/memberOf",
    "groups a group is in (single-user sync with nested groups)",
    "GroupMember.Read.All",
)
PHOTO = Endpoint(
    "photo",
    "GET",
    "/users/{id}/photo",
    "photo metadata (its etag is the photo's version)",
    permission="ProfilePhoto.Read.All",
)
PHOTO_VALUE = Endpoint(
    "photo_value",
    "GET",
    "/users/{id}/photo/$value",
    "photo bytes (only when the photo's version changed)",
    permission="ProfilePhoto.Read.All",
)
GROUPS = _listing("list_groups", "/groups", "list groups", "GroupMember.Read.All")
MEMBERS = _listing(
    "members", "/groups/{id}/members", "list a group's direct members", "GroupMember.Read.All"
)
BATCH = Endpoint(
    "batch", "POST", "/$batch", "up to 20 reads in one call (member listings; JSON batching)",
    permission="GroupMember.Read.All",
)  # fmt: skip
USERS_DELTA = Endpoint(
    "users_delta", "GET", "/users/delta", "changed users since the last run",
    permission="User.Read.All", paging=DeltaPages, records="value",
)  # fmt: skip
GROUPS_DELTA = Endpoint(
    "groups_delta", "GET", "/groups/delta", "changed groups and memberships since the last run",
    permission="GroupMember.Read.All", paging=DeltaPages, records="value",
)  # fmt: skip

_ONE = {"$top": "1", "$select": "id"}
READS = {
    USERS.name: Read(_ONE, gives="user"),
    GROUPS.name: Read(_ONE, gives="group"),
    MEMBERS.name: Read(_ONE, needs={"id": "group"}),
    USERS_DELTA.name: Read({"$deltatoken": "latest", "$select": "id"}),
    GROUPS_DELTA.name: Read({"$deltatoken": "latest", "$select": "displayName"}),
    USER.name: Read({"$select": "id"}, needs={"id": "user"}),
    MEMBER_OF.name: Read(_ONE, needs={"id": "user"}),
    GROUP_MEMBER_OF.name: Read(_ONE, needs={"id": "group"}),
    MANAGER.name: Read({"$select": "id"}, needs={"id": "user"}, absent="this user has no manager"),
    PHOTO.name: Read(needs={"id": "user"}, absent="this user has no photo"),
    PHOTO_VALUE.name: Read(needs={"id": "user"}, absent="this user has no photo"),
}
"""How ``idpsync check`` reads each endpoint (the delta links are the cheap "latest" ones)."""
PERMISSIONS = ("User.Read.All", "GroupMember.Read.All", "ProfilePhoto.Read.All")
"""Application permissions (with admin consent); ProfilePhoto.Read.All only with photos."""

RULE = FailureRule()
"""Which failures end an Entra read: those retrying cannot fix (refused token, 401, 403 with
the missing permission named, DNS, TLS, proxy); a 404 never does (an object deleted while it
was read). Any other failure only makes its listing incomplete."""


def item_response(url: str, status: int, headers: object, body: object) -> httpx.Response:
    """A ``$batch`` item's answer as an HTTP response of its own (for the HTTP layer's rules)."""
    pairs = {str(k): str(v) for k, v in headers.items()} if isinstance(headers, dict) else {}
    content = body if isinstance(body, dict | list) else None
    request = httpx.Request("GET", url)
    if content is None:
        text = body if isinstance(body, str) else ""
        return httpx.Response(status, headers=pairs, text=text, request=request)
    pairs.pop("content-length", None)
    return httpx.Response(status, headers=pairs, json=content, request=request)
