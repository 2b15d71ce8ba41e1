"""Incremental (delta) and single-user reads of the ``entra`` source.

**Delta.** A full snapshot saves two delta links, taken with ``$deltatoken=latest`` *before*
the listing (so changes made during the listing are replayed: applying them again is
harmless). An incremental run follows each link through its ``@odata.nextLink`` pages to a
new ``@odata.deltaLink``; the two rounds (users, groups) run side by side, each a chain of
pages that cannot be split (every page names the next)::

    requests = 1 (token) + pages(users delta) + pages(groups delta)
             + C × fetch_photos                         C = users the users delta returned
             + M × fetch_managers                       M = those of them unknown to the mirror
                                                         and without manager@delta (all C for
                                                         links that do not select manager)
             + N × (1 + fetch_managers + fetch_photos) N = scoped runs only: users newly
                                                         added to a group but unknown so far

Graph sends about 200 objects or 500 member links per delta page. Users come whole
(``$select`` is kept in the token); ``@removed`` users and groups are removals; a group's
``members@delta`` lists added members and removed ones (``@removed``), and a large group is
repeated over several pages with successive slices, which are merged.

**Managers.** With ``fetch_managers`` the users delta link is taken with ``manager`` in its
``$select``, and Graph annotates users with ``manager@delta``: a list of directory objects
(``{"@odata.type": "#microsoft.graph.user", "id": …}``). That shape is shown by Graph's
change-tracking API guideline (https://github.com/microsoft/api-guidelines, graph/patterns/
change-tracking.md) and Microsoft Q&A 1106807 ("an array of manager@delta … contains the object
id of the user's manager"); Graph's reference does not spell out removals, so an entry with
``@removed`` is read as the manager taken away, as in ``members@delta``. A changed user without
the annotation kept its manager: the staged mirror's is used. Managers so cost no request per
changed user; only a user the mirror does not know that comes without the annotation is read
with ``GET /users/{id}/manager``. Links saved before (state without ``users_delta_managers``)
keep the old way, one manager request per changed user.

An expired token (400 ``syncStateNotFound``) makes :func:`read_delta` return ``None`` and the
runner reads everything. A page that fails after retries makes the delta *incomplete*: only
its upserts are applied and the old links are kept, so the next run reads the same changes
again.

**Single user** (``idpsync sync-user``): ``GET /users/{id|upn}?$expand=manager($select=id)``,
``GET /users/{id}/memberOf`` (groups only, paged), with ``transitive`` one
``GET /groups/{id}/memberOf`` per group above (each once, for the group-in-group edges), and
``GET /users/{id}/photo`` when photos are on.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from idpsync.errors import SourceError
from idpsync.http import Endpoint, HttpClient
from idpsync.http.errors import BadRequest, HttpError, NotFound
from idpsync.http.origins import check_link
from idpsync.model import MemberKind, Membership, Snapshot, SourceUser
from idpsync.sources.base import DeltaResult, Event, Progress
from idpsync.sources.clean import usable_id
from idpsync.sources.entra import endpoints as ep
from idpsync.sources.entra import records as rec
from idpsync.sources.entra.endpoints import RULE
from idpsync.sources.entra.paging import DeltaPages
from idpsync.sources.entra.partitions import PartitionReads
from idpsync.sources.lanes import both
from idpsync.sources.shape import ShapeError, identified, records

MANAGERS_TRACKED = "users_delta_managers"
"""State key: the saved users delta link selects ``manager`` (so Graph sends ``manager@delta``)."""
SELECTED = "users_delta_select"
"""State key: the user properties the saved users delta link selects (a full read is due when
the configuration asks for others)."""


class EntraReads(PartitionReads, Protocol):
    """What the delta and single-user reads use of the Entra source (its reader).

    The whole listings of :class:`~idpsync.sources.entra.partitions.PartitionReads`, and the
    scope.
    """

    scope: tuple[list[str], bool] | None
    transitive: bool
    user_fields: list[str]

    async def user_details(self, snap: Snapshot, raws: list[dict[str, Any]]) -> list[SourceUser]:
        """Records for users read one by one (managers and photos per user when enabled)."""
        ...


class Expired(Exception):
    """The delta token is no longer known to Graph (``syncStateNotFound``)."""


def full_is_due(state: dict[str, Any], selected: str, every_hours: float) -> bool:
    """Whether a full read is due (rather than a delta from ``state``'s links).

    Due without delta links, with links that read other properties than ``selected``, or when
    the last full read is ``every_hours`` old or older.
    """
    if not state.get("users_delta") or not state.get("groups_delta"):
        return True
    if state.get(SELECTED) != selected:
        return True  # the saved link reads other properties than the settings ask for
    try:
        last = datetime.fromisoformat(str(state.get("full_at")))
    except ValueError:
        return True
    return datetime.now(UTC) - last >= timedelta(hours=every_hours)


async def follow(http: HttpClient, endpoint: Endpoint, link: str) -> tuple[list[Any], str]:
    """Every item of a delta round from ``link``, and the round's new delta link.

    The new link must stay on the listing's origin (else
    :class:`~idpsync.http.errors.ForeignOrigin`: it is neither followed nor kept).
    """
    items: list[Any] = []
    paginator = DeltaPages()
    try:
        async for page in http.pages(endpoint, paginator=paginator, start=link):
            items.extend(page.records)
    except BadRequest as exc:
        if exc.status == 410 or "syncStateNotFound" in f"{exc.cause} {exc.body or ''}":
            raise Expired from exc
        raise
    assert paginator.delta is not None  # a round ends only at a delta link
    return items, check_link(http.target(endpoint), paginator.delta)


async def read_delta(
    source: EntraReads, state: dict[str, Any], staged: Snapshot, progress: Progress
) -> DeltaResult | None:
    """The changes since ``state``'s links (see module doc); ``None`` when a token expired."""
    result = DeltaResult(state=dict(state))
    probe = Snapshot()
    progress(Event("fetch", "reading changes (delta)"))
    try:
        users_raw, groups_raw = await both(  # two chains, side by side
            _round(source, result, probe, ep.USERS_DELTA, "users_delta"),
            _round(source, result, probe, ep.GROUPS_DELTA, "groups_delta"),
        )
    except Expired:
        return None
    changed = []
    tracked = bool(state.get(MANAGERS_TRACKED)) and source.settings.fetch_managers
    known = staged.managers() if tracked else {}
    for raw in identified(probe, ep.USERS_DELTA.label, users_raw):
        if "@removed" in raw:
            result.removed_users.append(str(raw["id"]))
        else:
            changed.append(raw)
            _manager_from_delta(probe, raw, known if tracked else None)
    _apply_groups(result, probe, identified(probe, ep.GROUPS_DELTA.label, groups_raw))
    if source.scope is not None:
        changed += await _unknown_members(source, probe, result, staged, changed)
    changed = records(probe, ep.USERS_DELTA.label, "user", changed, rec.checked_user)
    result.users = await source.user_details(probe, changed)
    for bad in probe.skipped:  # a delta cannot hold a record back: read it again next time
        probe.mark_incomplete(bad.reason)
    if not probe.complete:
        result.complete = False
        result.incomplete_reasons = probe.incomplete_reasons
        result.state = dict(state)
    return result


def _manager_from_delta(
    probe: Snapshot, raw: dict[str, Any], known: dict[str, str | None] | None
) -> None:
    """Turn ``manager@delta`` into ``raw["manager"]`` (see module doc); drop the annotation.

    ``known`` (the staged mirror's managers) is ``None`` when the delta link does not track
    managers: the manager is then read per user. Without the annotation the manager did not
    change since the last round, so a known user keeps the mirror's; an unknown one is read.
    """
    marks = raw.pop("manager@delta", None)
    if known is None:
        return
    user_id = str(raw["id"])
    if marks is None:
        if user_id in known:
            raw["manager"] = {"id": known[user_id]} if known[user_id] else None
        return
    if not isinstance(marks, list) or not all(isinstance(m, dict) for m in marks):
        probe.mark_incomplete(f"{ep.USERS_DELTA.label}: manager@delta of {user_id} is no list")
        return
    alive = [usable_id(m.get("id")) for m in marks if "@removed" not in m]
    if None in alive:
        probe.mark_incomplete(f"{ep.USERS_DELTA.label}: manager@delta of {user_id} has no id")
        return
    raw["manager"] = {"id": alive[-1]} if alive else None


async def _round(
    source: EntraReads, result: DeltaResult, probe: Snapshot, endpoint: Endpoint, key: str
) -> list[Any]:
    try:
        items, link = await follow(source.http, endpoint, str(result.state[key]))
    except (HttpError, ShapeError) as exc:
        if RULE.fatal(exc):
            raise
        probe.mark_incomplete(str(exc))
        return []
    result.state[key] = link
    return items


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
            probe.mark_incomplete(
                f"{ep.GROUPS_DELTA.label}: members@delta of {group_id} is no list"
            )
            members = []
        for item in identified(probe, ep.GROUPS_DELTA.label, members):
            kind = rec.member_kind(item)
            if kind is None:
                continue
            edge = Membership(group_id, str(item["id"]), kind)
            (result.removed if "@removed" in item else result.added).append(edge)
    result.groups = records(
        probe, ep.GROUPS_DELTA.label, "group", list(merged.values()), rec.to_group
    )


async def _unknown_members(
    source: EntraReads,
    probe: Snapshot,
    result: DeltaResult,
    staged: Snapshot,
    changed: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """A scoped mirror lacks users outside the required groups: read newly added ones."""
    known = {*staged.user_ids(), *(str(raw["id"]) for raw in changed)}
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
    source: EntraReads, snap: Snapshot, key: str, *, expand: bool
) -> dict[str, Any] | None:
    params = {"$select": ",".join(source.user_fields)}
    if expand and source.settings.fetch_managers:
        params["$expand"] = "manager($select=id)"
    try:
        raw = await source.http.get_json(ep.USER, {"id": key}, params=params)
    except NotFound:
        return None
    except HttpError as exc:
        if RULE.fatal(exc):
            raise
        snap.mark_incomplete(f"{ep.USER.label}: {exc}")
        return None
    found = records(snap, ep.USER.label, "user", [raw], rec.checked_user)
    if not found:
        snap.mark_incomplete(f"{ep.USER.label}: user {key} cannot be read from the answer")
        return None
    if "$expand" in params:
        found[0].setdefault("manager", None)
    return found[0]


async def read_user(source: EntraReads, key: str) -> Snapshot | None:
    """A single-user snapshot (see ``Source.fetch_user`` and the module doc)."""
    snap = Snapshot()
    raw = await _get_user(source, snap, key, expand=True)
    if raw is None:
        if not snap.complete:
            raise SourceError("; ".join(snap.incomplete_reasons))
        return None
    user_id = str(raw["id"])
    params = {"$top": ep.PAGE, "$select": ",".join(rec.GROUP_FIELDS)}
    groups: dict[str, dict[str, Any]] = {}
    parents = await source.listing(snap, ep.MEMBER_OF, {"id": user_id}, params)
    todo: list[str] = []
    for item in identified(snap, ep.MEMBER_OF.label, parents or []):
        if rec.member_kind(item) is MemberKind.GROUP:
            groups[str(item["id"])] = item
            snap.memberships.append(Membership(str(item["id"]), user_id, MemberKind.USER))
            todo.append(str(item["id"]))
    done: set[str] = set()
    while todo and source.transitive:
        child = todo.pop()
        if child in done:
            continue
        done.add(child)
        above = await source.listing(snap, ep.GROUP_MEMBER_OF, {"id": child}, params)
        for item in identified(snap, ep.GROUP_MEMBER_OF.label, above or []):
            if rec.member_kind(item) is MemberKind.GROUP:
                groups[str(item["id"])] = item
                snap.memberships.append(Membership(str(item["id"]), child, MemberKind.GROUP))
                todo.append(str(item["id"]))
    snap.groups = records(snap, ep.MEMBER_OF.label, "group", list(groups.values()), rec.to_group)
    snap.users = await source.user_details(snap, [raw])
    return snap
