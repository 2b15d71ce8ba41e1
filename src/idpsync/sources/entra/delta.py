"""Incremental (delta) and single-user reads of the ``entra`` source.

**Delta.** A full snapshot saves two delta links, taken with ``$deltatoken=latest`` *before*
the listing (so changes made during the listing are replayed: applying them again is
harmless). An incremental run follows each link through its ``@odata.nextLink`` pages to a
new ``@odata.deltaLink``::

    requests = 1 (token) + pages(users delta) + pages(groups delta)
             + C × (fetch_managers + fetch_photos)     C = users the users delta returned
             + N × (1 + fetch_managers + fetch_photos) N = scoped runs only: users newly
                                                         added to a group but unknown so far

Graph sends about 200 objects or 500 member links per delta page. Users come whole
(``$select`` is kept in the token); ``@removed`` users and groups are removals; a group's
``members@delta`` lists added members and removed ones (``@removed``), and a large group is
repeated over several pages with successive slices, which are merged. A delta user carries no
manager, so the manager is read per changed user. An expired token (400 ``syncStateNotFound``)
makes :func:`read_delta` return ``None`` and the runner reads everything. A page that fails
after retries makes the delta *incomplete*: only its upserts are applied and the old links are
kept, so the next run reads the same changes again.

**Single user** (``idpsync sync-user``): ``GET /users/{id|upn}?$expand=manager($select=id)``,
``GET /users/{id}/memberOf`` (groups only, paged), with ``transitive`` one
``GET /groups/{id}/memberOf`` per group above (each once, for the group-in-group edges), and
``GET /users/{id}/photo`` when photos are on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from idpsync.errors import SourceError
from idpsync.http.errors import BadRequest, HttpError, NotFound
from idpsync.http.origins import check_link
from idpsync.model import MemberKind, Membership, Snapshot
from idpsync.sources.base import DeltaResult, Event, Progress
from idpsync.sources.entra import graph as g
from idpsync.sources.shape import ShapeError, identified, optional_text, page_items, records

if TYPE_CHECKING:
    from idpsync.http import Endpoint
    from idpsync.sources.entra.reader import EntraSource


class Expired(Exception):
    """The delta token is no longer known to Graph (``syncStateNotFound``)."""


async def follow(source: EntraSource, endpoint: Endpoint, link: str) -> tuple[list[Any], str]:
    """Every item of a delta round and its new delta link."""
    items: list[Any] = []
    seen: set[str] = set()
    url: str | None = link
    while url is not None:
        if url in seen:
            raise g.RepeatedLink(f"{endpoint.label}: the server repeated a next-page link")
        seen.add(url)
        try:
            page = await source.http.get_json(endpoint, url=url)
        except BadRequest as exc:
            if exc.status == 410 or "syncStateNotFound" in f"{exc.cause} {exc.body or ''}":
                raise Expired from exc
            raise
        items.extend(page_items(page, "value", endpoint.label))
        url = optional_text(page, "@odata.nextLink", endpoint.label)
        if url is None:
            delta = optional_text(page, "@odata.deltaLink", endpoint.label)
            if delta is None:
                raise g.RepeatedLink(f"{endpoint.label}: a page has neither next nor delta link")
            return items, check_link(source.http.target(endpoint), delta)
    raise AssertionError("unreachable")


async def read_delta(
    source: EntraSource, state: dict[str, Any], staged: Snapshot, progress: Progress
) -> DeltaResult | None:
    """The changes since ``state``'s links (see module doc); ``None`` when a token expired."""
    result = DeltaResult(state=dict(state))
    probe = Snapshot()
    progress(Event("fetch", "reading changes (delta)"))
    try:
        users_raw = await _round(source, result, probe, g.USERS_DELTA, "users_delta")
        groups_raw = await _round(source, result, probe, g.GROUPS_DELTA, "groups_delta")
    except Expired:
        return None
    changed = []
    for raw in identified(probe, g.USERS_DELTA.label, users_raw):
        if "@removed" in raw:
            result.removed_users.append(str(raw["id"]))
        else:
            changed.append(raw)
    _apply_groups(result, probe, identified(probe, g.GROUPS_DELTA.label, groups_raw))
    if source.scope is not None:
        changed += await _unknown_members(source, probe, result, staged, changed)
    changed = records(probe, g.USERS_DELTA.label, "user", changed, g.checked_user)
    result.users = await source.user_details(probe, changed)
    for bad in probe.skipped:  # a delta cannot hold a record back: read it again next time
        probe.mark_incomplete(bad.reason)
    if not probe.complete:
        result.complete = False
        result.incomplete_reasons = probe.incomplete_reasons
        result.state = dict(state)
    return result


async def _round(
    source: EntraSource, result: DeltaResult, probe: Snapshot, endpoint: Endpoint, key: str
) -> list[Any]:
    try:
        items, link = await follow(source, endpoint, str(result.state[key]))
    except (HttpError, g.RepeatedLink, ShapeError) as exc:
        if isinstance(exc, HttpError) and source_fatal(exc):
            raise
        probe.mark_incomplete(str(exc))
        return []
    result.state[key] = link
    return items


def source_fatal(exc: HttpError) -> bool:
    """Failures retrying cannot fix (see :func:`idpsync.sources.entra.reader.fatal`)."""
    from idpsync.sources.entra.reader import fatal

    return fatal(exc)


def _apply_groups(result: DeltaResult, probe: Snapshot, groups_raw: list[Any]) -> None:
    """Merge repeated group objects; collect removals and member changes."""
    merged: dict[str, dict[str, Any]] = {}
    for raw in groups_raw:
        group_id = str(raw["id"])
        if "@removed" in raw:
            result.removed_groups.append(group_id)
            merged.pop(group_id, None)
            continue
        merged.setdefault(group_id, {}).update(
            {k: v for k, v in raw.items() if k != "members@delta"}
        )
        members = raw.get("members@delta") or []
        if not isinstance(members, list):
            probe.mark_incomplete(f"{g.GROUPS_DELTA.label}: members@delta of {group_id} is no list")
            members = []
        for item in identified(probe, g.GROUPS_DELTA.label, members):
            kind = g.member_kind(item)
            if kind is None:
                continue
            edge = Membership(group_id, str(item["id"]), kind)
            (result.removed if "@removed" in item else result.added).append(edge)
    result.groups = records(probe, g.GROUPS_DELTA.label, "group", list(merged.values()), g.to_group)


async def _unknown_members(
    source: EntraSource,
    probe: Snapshot,
    result: DeltaResult,
    staged: Snapshot,
    changed: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """A scoped mirror lacks users outside the required groups: read newly added ones."""
    known = {u.source_id for u in staged.users} | {str(raw["id"]) for raw in changed}
    unknown = {
        e.member_id
        for e in result.added
        if e.member_kind is MemberKind.USER and e.member_id not in known
    }
    found = []
    for user_id in sorted(unknown):
        raw = await _get_user(source, probe, user_id, expand=False)
        if raw is not None:
            found.append(raw)
    return found


async def _get_user(
    source: EntraSource, snap: Snapshot, key: str, *, expand: bool
) -> dict[str, Any] | None:
    params = {"$select": ",".join(source.user_fields)}
    if expand and source.settings.fetch_managers:
        params["$expand"] = "manager($select=id)"
    try:
        raw = await source.http.get_json(g.USER, {"id": key}, params=params)
    except NotFound:
        return None
    except HttpError as exc:
        if source_fatal(exc):
            raise
        snap.mark_incomplete(f"{g.USER.label}: {exc}")
        return None
    found = records(snap, g.USER.label, "user", [raw], g.checked_user)
    if not found:
        snap.mark_incomplete(f"{g.USER.label}: user {key} cannot be read from the answer")
        return None
    if "$expand" in params:
        found[0].setdefault("manager", None)
    return found[0]


async def read_user(source: EntraSource, key: str) -> Snapshot | None:
    """A single-user snapshot (see ``Source.fetch_user`` and the module doc)."""
    snap = Snapshot()
    raw = await _get_user(source, snap, key, expand=True)
    if raw is None:
        if not snap.complete:
            raise SourceError("; ".join(snap.incomplete_reasons))
        return None
    user_id = str(raw["id"])
    params = {"$top": g.PAGE, "$select": ",".join(g.GROUP_FIELDS)}
    groups: dict[str, dict[str, Any]] = {}
    parents = await source.listing(snap, g.MEMBER_OF, {"id": user_id}, params)
    todo: list[str] = []
    for item in identified(snap, g.MEMBER_OF.label, parents or []):
        if g.member_kind(item) is MemberKind.GROUP:
            groups[str(item["id"])] = item
            snap.memberships.append(Membership(str(item["id"]), user_id, MemberKind.USER))
            todo.append(str(item["id"]))
    done: set[str] = set()
    while todo and source.transitive:
        child = todo.pop()
        if child in done:
            continue
        done.add(child)
        above = await source.listing(snap, g.GROUP_MEMBER_OF, {"id": child}, params)
        for item in identified(snap, g.GROUP_MEMBER_OF.label, above or []):
            if g.member_kind(item) is MemberKind.GROUP:
                groups[str(item["id"])] = item
                snap.memberships.append(Membership(str(item["id"]), child, MemberKind.GROUP))
                todo.append(str(item["id"]))
    snap.groups = records(snap, g.MEMBER_OF.label, "group", list(groups.values()), g.to_group)
    snap.users = await source.user_details(snap, [raw])
    return snap
