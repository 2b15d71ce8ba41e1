"""The directory pages: users, groups, one user, one group with its members.

Listings show how many rows match, with filters, sorting and paging; a local administrator
disables and enables a user from the user's page.

Filters and the page travel in the query string, so every view is a link that can be shared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from idpsync.store import local
from idpsync.web import queries
from idpsync.web.api import service
from idpsync.web.errors import PageError
from idpsync.web.pages import ADMINISTER, VIEW, check_form, need_admin, render
from idpsync.web.paging import page_offset

router = APIRouter(include_in_schema=False)
CsrfField = Annotated[str, Form(alias="csrf")]
PAGE = 50
"""Rows per page of the users, groups and members listings."""
LONGEST = 256
"""Search texts and filter values are cut to this many characters."""


def _linker(path: str, params: dict[str, Any]) -> Callable[..., str]:
    """A function giving this page's URL with some parameters changed (empty ones dropped)."""

    def link(**changes: Any) -> str:
        merged = {**params, **changes}
        kept = {k: v for k, v in merged.items() if v not in ("", None, False, 0)}
        return f"{path}?{urlencode(kept)}" if kept else path

    return link


def _choice(value: str, allowed: tuple[str, ...]) -> str:
    return value if value in allowed else ""


@router.get("/users", response_class=HTMLResponse, dependencies=[VIEW])
def users_page(
    request: Request,
    q: str = "",
    connector: str = "",
    active: str = "",
    disabled: str = "",
    sort: str = "login",
    desc: bool = False,
    offset: int = 0,
) -> Response:
    """Users: how many match, filtered by connector, state and a search; sorted; in pages."""
    if (redirect := need_admin(request)) is not None:
        return redirect
    store = service(request).store
    sort = sort if sort in queries.USER_SORTS else "login"
    chosen = queries.UserFilter(
        q=q[:LONGEST].strip(),
        connector=connector[:64],
        active=_choice(active, ("yes", "no")),
        disabled=_choice(disabled, ("yes", "no")),
        sort=sort,
        desc=desc,
    )
    listing = queries.list_users(store, chosen, PAGE, page_offset(offset))
    params = asdict(chosen)
    return render(
        request,
        "users.html",
        users=listing,
        f=chosen,
        connectors=queries.connectors_in_directory(store),
        link=_linker("/users", params),
    )


@router.get("/users/{user_id}", response_class=HTMLResponse, dependencies=[VIEW])
def user_page(request: Request, user_id: int) -> Response:
    """One user: attributes, groups, manager, photo, local disable, change history."""
    if (redirect := need_admin(request)) is not None:
        return redirect
    found = queries.user_page(service(request).store, user_id) if 0 < user_id < 2**62 else None
    if found is None:
        raise PageError(404, f"there is no user {user_id}", "/users")
    return render(
        request,
        "user.html",
        u=found,
        source_rows=queries.attribute_rows(found["source"]) if found["source"] else [],
        attribute_rows=queries.attribute_rows(found.get("attributes") or {}),
    )


def _set_disabled(request: Request, user_id: int, csrf: str, disabled: bool) -> Response:
    check_form(request, csrf)
    store = service(request).store
    found = queries.user_page(store, user_id) if 0 < user_id < 2**62 else None
    if found is None:
        raise PageError(404, f"there is no user {user_id}", "/users")
    try:
        local.set_locally_disabled(
            store, str(found["login"]), disabled=disabled, connector=found["connector"]
        )
    except LookupError as exc:
        raise PageError(409, str(exc), f"/users/{user_id}") from None
    return RedirectResponse(f"/users/{user_id}", status_code=303)


@router.post("/users/{user_id}/disable", dependencies=[ADMINISTER])
def disable_user(request: Request, user_id: int, csrf: CsrfField = "") -> Response:
    """Deactivate the user locally: no sync re-activates them until enabled here again."""
    return _set_disabled(request, user_id, csrf, True)


@router.post("/users/{user_id}/enable", dependencies=[ADMINISTER])
def enable_user(request: Request, user_id: int, csrf: CsrfField = "") -> Response:
    """Lift a local deactivation (a synced user takes the IdP's state at the next sync)."""
    return _set_disabled(request, user_id, csrf, False)


@router.get("/groups", response_class=HTMLResponse, dependencies=[VIEW])
def groups_page(
    request: Request,
    q: str = "",
    connector: str = "",
    sort: str = "name",
    desc: bool = False,
    offset: int = 0,
) -> Response:
    """Groups: how many match, filtered by connector and a search, with member counts."""
    if (redirect := need_admin(request)) is not None:
        return redirect
    store = service(request).store
    q, connector = q[:LONGEST].strip(), connector[:64]
    sort = sort if sort in queries.GROUP_SORTS else "name"
    listing = queries.list_groups(store, q, connector, sort, desc, PAGE, page_offset(offset))
    params = {"q": q, "connector": connector, "sort": sort, "desc": desc}
    return render(
        request,
        "groups.html",
        groups=listing,
        f=params,
        connectors=queries.connectors_in_directory(store),
        link=_linker("/groups", params),
    )


@router.get("/groups/{group_id}", response_class=HTMLResponse, dependencies=[VIEW])
def group_page(request: Request, group_id: int, offset: int = 0) -> Response:
    """One group: its facts, its parent groups and its direct members in pages."""
    if (redirect := need_admin(request)) is not None:
        return redirect
    store = service(request).store
    found = (
        queries.group_page(store, group_id, PAGE, page_offset(offset))
        if 0 < group_id < 2**62
        else None
    )
    if found is None:
        raise PageError(404, f"there is no group {group_id}", "/groups")
    return render(
        request,
        "group.html",
        g=found,
        source_rows=queries.attribute_rows(found["source"]) if found["source"] else [],
        link=_linker(f"/groups/{group_id}", {}),
    )
