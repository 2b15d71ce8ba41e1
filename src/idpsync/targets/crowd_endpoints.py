"""The Crowd target's endpoint table: every call it makes, as data.

Paths are relative to ``{url}/rest/usermanagement/1``. Objects are named in the query
(``?username=``, ``?groupname=``). Listings page with ``start-index``/``max-results`` until a
short page (Crowd gives no total); their records are in ``users`` or ``groups``.
"""

from __future__ import annotations

from idpsync.http.endpoint import Endpoint
from idpsync.http.paging import Offset

DEFAULT_PAGE = 100
"""``max-results`` of a listing unless the target's ``options.page_size`` says otherwise."""


def paging(size: int = DEFAULT_PAGE) -> Offset:
    """Crowd's paging: ``start-index=N&max-results=M``, until an empty page.

    Not until a page shorter than ``M``: Crowd documents no largest ``max-results``, and a
    server that caps it (as Atlassian's APIs do elsewhere, silently) would end the listing
    after its first page, so that a reconcile would miss every user past it.
    """
    return Offset(size, offset="start-index", limit="max-results", short_ends=False)


def _listing(name: str, path: str, purpose: str, records: str) -> Endpoint:
    return Endpoint(name, "GET", path, purpose, paging=paging, records=records)


GET_USER = Endpoint("get_user", "GET", "/user", "read a user with its attributes")
CREATE_USER = Endpoint("create_user", "POST", "/user", "create a user")
UPDATE_USER = Endpoint("update_user", "PUT", "/user", "update a user (the whole user)")
DELETE_USER = Endpoint("delete_user", "DELETE", "/user", "delete a user")
SET_ATTRIBUTE = Endpoint(
    "set_user_attribute",
    "POST",
    "/user/attribute",
    "store the directory's id (and a new user's mapped attributes) on a user",
)
SET_ATTRIBUTES = Endpoint(
    "set_user_attributes", "POST", "/user/attribute", "store mapped attributes on a user"
)
DELETE_ATTRIBUTE = Endpoint(
    "delete_user_attribute", "DELETE", "/user/attribute", "remove a mapped attribute of a user"
)
RENAME_USER = Endpoint("rename_user", "POST", "/user/rename", "rename a user (a login change)")
SEARCH_USERS = _listing("search_users", "/search", "list users, find one by e-mail", "users")
SEARCH_GROUPS = _listing("search_groups", "/search", "list groups (reconcile)", "groups")
GET_GROUP = Endpoint("get_group", "GET", "/group", "find a group by name")
CREATE_GROUP = Endpoint("create_group", "POST", "/group", "create a group")
DELETE_GROUP = Endpoint("delete_group", "DELETE", "/group", "delete a group")
USER_MEMBERS = _listing(
    "list_user_members", "/group/user/direct", "list a group's user members", "users"
)
ADD_USER_MEMBER = Endpoint("add_user_member", "POST", "/group/user/direct", "add a user member")
REMOVE_USER_MEMBER = Endpoint(
    "remove_user_member", "DELETE", "/group/user/direct", "remove a user member"
)
GROUP_MEMBERS = _listing(
    "list_group_members", "/group/child-group/direct", "list a group's nested groups", "groups"
)
ADD_GROUP_MEMBER = Endpoint(
    "add_group_member", "POST", "/group/child-group/direct", "nest a group in a group"
)
REMOVE_GROUP_MEMBER = Endpoint(
    "remove_group_member", "DELETE", "/group/child-group/direct", "remove a nested group"
)
MEMBERSHIPS = Endpoint(
    "memberships", "GET", "/group/membership", "read every membership at once (XML, reconcile)"
)

ENDPOINTS: tuple[Endpoint, ...] = (
    GET_USER,
    CREATE_USER,
    UPDATE_USER,
    DELETE_USER,
    SET_ATTRIBUTE,
    SET_ATTRIBUTES,
    DELETE_ATTRIBUTE,
    RENAME_USER,
    SEARCH_USERS,
    SEARCH_GROUPS,
    GET_GROUP,
    CREATE_GROUP,
    DELETE_GROUP,
    USER_MEMBERS,
    ADD_USER_MEMBER,
    REMOVE_USER_MEMBER,
    GROUP_MEMBERS,
    ADD_GROUP_MEMBER,
    REMOVE_GROUP_MEMBER,
    MEMBERSHIPS,
)
"""Every call of a Crowd target."""
