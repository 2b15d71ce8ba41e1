"""Incremental reads for the Google source from the Admin SDK Reports API (opt-in).

The Directory API has no delta query, but every change an administrator (or a provisioning
tool) makes is written to the admin activity log: ``USER_SETTINGS`` events name the user
(``USER_EMAIL``: ``CREATE_USER``, ``DELETE_USER``, ``SUSPEND_USER``, ``RENAME_USER`` with
``NEW_VALUE``, …) and ``GROUP_SETTINGS`` events the group (``GROUP_EMAIL``: ``CREATE_GROUP``,
``CHANGE_GROUP_NAME``, ``ADD_GROUP_MEMBER`` / ``REMOVE_GROUP_MEMBER`` with the member's
``USER_EMAIL``, …). With ``incremental = "reports"`` a run between full reads:

1. lists ``GET /admin/reports/v1/activity/users/all/applications/admin`` from the last read's
   start minus ``report_overlap_minutes`` (admin events are reported "near real time, a couple
   of minutes" late, rarely later: support.google.com/a/answer/7061566), 1,000 a page, to the
   end, its time ranges side by side (:mod:`.activitylog`);
2. reads each user named by a user event once (``users/{email}``, ``batch_size`` calls a
   batch request: :mod:`.fetch`); takes the id of each group named only by member events
   from the staged mirror (its primary e-mail is staged with it), and reads each other named
   group: once each (``groups/{email}``) or, when most groups are named, through one listing
   of all groups (:mod:`.named`; started beside step 1 when the mirror lacks addresses,
   cancelled when it does not pay), the users and the groups side by side, their first calls
   at once when the quota has refilled (:func:`burst`);
3. applies ``ADD_GROUP_MEMBER`` / ``REMOVE_GROUP_MEMBER`` to the staged mirror's edges (only
   those of the members named: the mirror is read narrowly, its users as their addresses
   only), the latest event of each (group, member) pair winning, and reads again, in rolling batches
   (:func:`.rolling.all_members`), the whole member listing of each group the log leaves unsure
   (:mod:`.memberlog` says which), which replaces that group's edges; a group unsure only
   from two events of one pair in the same millisecond has each such pair asked instead
   (``members/{memberKey}``, :mod:`.ties`);
4. merges that into the staged mirror. Users and groups are read as they are now, and edges
   follow the latest event, so a replayed or out-of-order event is harmless.

When more than ``report_reread_share`` of all groups would be read again, a full read costs
no more: the run reads everything (``stats.extra["cost_switch"]``).

Anything it cannot be sure of makes the run a full read instead (``delta`` returns ``None``):
an events listing that does not reach its end, an event without the e-mail it should carry, a
deleted group (the log names it only by its e-mail), a group whose address changed (earlier
events name the old address, which another group may hold by now), a user that answers 404
without a ``DELETE_USER`` event or a known address, a saved time older than the log's 180
days, a failed or malformed read of a changed object, and ``nested`` (a change would touch
every group above). Events of other types (domain settings, devices…) change nothing the
source reads and are skipped. Request count: ``L_E + ⌈C_u / B⌉ + X_g + ⌈P / B⌉
+ Σ_k ⌈N_k / B⌉ + [managers not known]`` for ``L_E`` log requests (one for a log of one page,
more for one read in ranges: :mod:`.activitylog`), ``C_u`` users named, ``X_g`` = ``⌈G /
200⌉`` when the ``C_g`` groups named that the mirror does not resolve are at least 20 × that
(``G`` groups in the mirror), else ``⌈C_g / B⌉`` + the listing's pages read before it was
cancelled, ``B = batch_size``, ``P`` the tied pairs asked (:mod:`.ties`) and ``N_k`` the
groups read again with at least ``k`` member pages (docs/sources/google.md).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from idpsync.errors import SourceError
from idpsync.model import EdgeList, Membership, Snapshot, SourceGroup, SourceUser
from idpsync.sources.base import DeltaResult, Event, Progress
from idpsync.sources.google import activitylog, rolling, ties
from idpsync.sources.google import api as g
from idpsync.sources.google import photos as google_photos
from idpsync.sources.google.endpoints import ACTIVITY_PAGE, GROUP, USER, projection
from idpsync.sources.google.fetch import fetch_many
from idpsync.sources.google.memberlog import TIE, Reasons, apply, read_log
from idpsync.sources.google.named import (
    ADDRESS,
    addresses,
    drop,
    list_groups,
    named_groups,
    settled,
)
from idpsync.sources.google.settings import GoogleSourceSettings
from idpsync.sources.lanes import Lanes, both, gather
from idpsync.sources.shape import records

if TYPE_CHECKING:
    from idpsync.sources.google.reader import GoogleSource

SHOWN = 10
"""Groups named (with the reason) in the progress line about the listings read again."""
RETENTION_DAYS = 180
"""How far back the Reports API keeps admin activities."""
MARK = "reports_since"
ADDRESSES = ("primaryEmail", "aliases")
"""The user attributes that hold a user's addresses (:func:`.api.emails_of`)."""


class Unsure(Exception):
    """The changes cannot be read with certainty: read everything instead."""


def stamp(when: float) -> str:
    """RFC 3339 in UTC with milliseconds, as the Reports API takes ``startTime``."""
    moment = datetime.fromtimestamp(when, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


READS = "user_projection"
"""State key: the users' projection of the read that saved the marks (``""``: basic)."""


def user_reads(settings: GoogleSourceSettings) -> str:
    """What the user reads ask for beyond the default, as saved in the state."""
    return "&".join(f"{k}={v}" for k, v in projection(settings).items())


ENDED = "read_ended"
"""State key: when the read that saved the marks sent its last request (:func:`burst`)."""


def marks(started: float, full_at: float, settings: GoogleSourceSettings) -> dict[str, Any]:
    """The state to save after a complete read that began at ``started`` (and ends now)."""
    state = {MARK: stamp(started), "full_at": full_at, READS: user_reads(settings)}
    return {**state, ENDED: time.time()}


def burst(state: dict[str, Any], settings: GoogleSourceSettings, now: float) -> int:
    """Quota calls the named users' and groups' batches may send beyond the request budget.

    Google counts ``quota`` queries a minute; the budget sends ``quota / 60`` a second with one
    second's worth at once, which keeps a long read under the quota but makes a read of 1,000
    changed users wait 25 s for what the quota allows in one go. The quota refills at ``quota
    / 60`` a second, so ``t`` seconds after the last read's last request at least ``t × quota
    / 60`` calls (the whole ``quota`` after a minute) are free even if that read used them all:
    this read may send that many (times ``quota_burst``) at once, less the budget's own
    second. With ``http.requests_per_second`` set (a share of the quota left to others) the
    minute is counted at that rate instead. Nothing without the time in the state, or with
    ``fetch_photos`` (the photo downloads come after the read and its state).
    """
    ended = state.get(ENDED)
    if not isinstance(ended, (int, float)) or settings.fetch_photos or now <= ended:
        return 0
    rate = settings.http.requests_per_second or settings.quota / 60.0  # the budget's rate
    free = min(rate * 60.0, (now - ended) * rate) * settings.quota_burst
    return max(0, int(free - max(1.0, rate)))


def due_for_full(
    state: dict[str, Any], settings: GoogleSourceSettings, now: float | None = None
) -> bool:
    """Whether the next read must be a full one.

    True without a mark, when the last full read is ``full_reconcile_hours`` old, or when the
    user reads ask for other custom schemas than the last full read did.
    """
    full_at = state.get("full_at")
    now = time.time() if now is None else now
    if not state.get(MARK) or not isinstance(full_at, (int, float)):
        return True
    if state.get(READS, "") != user_reads(settings):
        return True  # users the log does not name would keep the old schemas
    return now - full_at >= settings.full_reconcile_hours * 3600


def changed(items: list[Any]) -> tuple[set[str], set[str], set[str]]:
    """E-mails of changed users, deleted users and changed groups named by the activities."""
    users: set[str] = set()
    deleted: set[str] = set()
    groups: set[str] = set()
    for item in items:
        events = item.get("events") if isinstance(item, dict) else None
        if not isinstance(events, list):
            raise Unsure("an activity without events")
        for event in events:
            kind, name = str(event.get("type", "")), str(event.get("name", ""))
            params = {
                str(p.get("name")): str(p.get("value", ""))
                for p in event.get("parameters") or []
                if isinstance(p, dict)
            }
            if kind == "USER_SETTINGS":
                email = params.get("USER_EMAIL", "").lower()
                if not email:
                    raise Unsure(f"{name} without USER_EMAIL")
                users.add(email)
                if name == "DELETE_USER":
                    deleted.add(email)
                if name == "RENAME_USER" and "@" in params.get("NEW_VALUE", ""):
                    users.add(params["NEW_VALUE"].lower())
            elif kind == "GROUP_SETTINGS":
                email = params.get("GROUP_EMAIL", "").lower()
                if not email or name == "DELETE_GROUP":
                    raise Unsure(f"{name} for {email or 'a group'}: its id is not in the log")
                if name == "CHANGE_GROUP_EMAIL":  # earlier events name the old address, which
                    raise Unsure(f"{name} for {email}")  # another group may hold by now
                groups.add(email)
    return users, deleted, groups


async def delta(
    source: GoogleSource, state: dict[str, Any], staged: Snapshot, progress: Progress
) -> DeltaResult | None:
    """The changes since the saved mark, or ``None`` for a full read (module docstring)."""
    settings = source.settings
    if settings.incremental != "reports" or settings.nested or not state.get(MARK):
        return None
    started = time.time()
    try:
        since = datetime.fromisoformat(str(state[MARK]).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
    since -= settings.report_overlap_minutes * 60
    if since < started - RETENTION_DAYS * 86400 + 3600:
        return None  # older than the log keeps
    progress(Event("fetch", f"reading Google admin activities since {stamp(since)}"))
    source.credit = burst(state, settings, started)
    staged_groups = staged.group_attribute_values((ADDRESS,))  # ids and e-mails: one select
    known, every = addresses(staged_groups)
    mirror_groups = set(staged_groups)
    # the listing only when some staged group has no address (:mod:`.named`)
    listing = asyncio.ensure_future(list_groups(source)) if mirror_groups and not every else None
    # every user's addresses, read in a thread while the log's pages come (nothing else uses
    # the mirror until it is awaited); ended before the mirror is, whatever happens
    mirror = asyncio.ensure_future(asyncio.to_thread(staged_addresses, staged))
    try:
        items = await activitylog.read_log(source, int(since * 1000), ACTIVITY_PAGE)
        users, deleted, groups = changed(items)
        found = Changes(users, deleted, groups, items, mirror_groups, listing, known, mirror)
        result = await _read_changes(source, staged, found, progress)
    except Unsure as why:
        progress(Event("fetch", f"incremental read not possible ({why}); reading everything"))
        source.stats.extra["incremental_fallback"] = str(why)
        return None
    except SourceError as exc:
        from idpsync.sources.google.reader import RULE

        if RULE.fatal(exc):
            raise
        source.stats.extra["incremental_fallback"] = str(exc)
        return None
    finally:
        source.credit = 0
        if listing is not None and not listing.done():
            await drop(listing)
        await asyncio.gather(mirror, return_exceptions=True)
    source.stats.extra.update(activities=len(items), changed_users=len(users))
    source.stats.extra["changed_groups"] = len(groups)
    result.state = marks(started, float(state.get("full_at", started)), settings)
    return result


def _in_scope(email: str, domain: str | None) -> bool:
    return domain is None or email.rsplit("@", 1)[-1] == domain.lower()


@dataclass
class Changes:
    """What the activity log names, and what the read has started beside it."""

    users: set[str]
    deleted: set[str]
    groups: set[str]
    items: list[Any]
    mirror_groups: set[str]
    """The staged groups' ids."""
    listing: asyncio.Future[list[Any] | None] | None
    """The groups listing started beside the log (``None``: not needed, :mod:`.named`)."""
    known: dict[str, str]
    """The staged groups' primary e-mails → ids (:func:`.named.addresses`)."""
    mirror: asyncio.Future[dict[str, str]]
    """The staged users' addresses → ids (:func:`staged_addresses`), being read meanwhile."""


def staged_addresses(staged: Snapshot) -> dict[str, str]:
    """Every staged user's primary e-mail and aliases → its id, from those two values a user."""
    values = staged.user_attribute_values(ADDRESSES)
    return {mail: user_id for user_id, found in values.items() for mail in g.emails_of(found)}


async def _read_changes(
    source: GoogleSource, staged: Snapshot, change: Changes, progress: Progress
) -> DeltaResult:
    domain = source.settings.domain
    users, deleted, groups, items = change.users, change.deleted, change.groups, change.items
    snap = Snapshot()
    mirror = await change.mirror  # the mirror's first use after the log: nothing else ran on it
    known = dict(mirror)
    emails = sorted(e for e in users if _in_scope(e, domain))
    names = sorted(e for e in groups if _in_scope(e, domain))
    mirror_groups, log = change.mirror_groups, read_log(items)
    resolved = settled(names, change.known, log.touched)  # ids from the mirror, nothing read
    to_read = [n for n in names if n not in resolved]
    bodies, group_bodies = await both(  # the named users and groups side by side
        fetch_many(source, USER, "userKey", emails, projection(source.settings)),
        named_groups(source, to_read, len(mirror_groups), change.listing),
    )
    source.stats.extra["groups_from_mirror"] = len(resolved)
    fetched = [b for b in bodies if b is not None]
    found = records(snap, USER.label, "user", fetched, g.checked_user)
    ids = {str(item["id"]) for item in found}
    result = DeltaResult()
    for email, body in zip(emails, bodies, strict=True):
        staged_id = known.get(email)
        if staged_id is None or staged_id in ids:
            continue  # a new address, or the mirror's user at it was read again
        if email in deleted:  # gone (its address may already belong to someone new)
            result.removed_users.append(staged_id)
        else:
            state = "answered 404" if body is None else "belongs to another user now"
            raise Unsure(f"user {email} {state} without a DELETE_USER event")
    for item in found:
        known.update((mail, str(item["id"])) for mail in g.emails_of(item))
    result.users = list(await gather(*(_user(source, item, known) for item in found)))
    gone = set(result.removed_users)
    if gone:  # a deleted manager is no manager, as in a full read
        managed = [u for u, boss in staged.managers().items() if boss in gone and u not in ids]
        result.users += [replace(u, manager_id=None) for u in staged.users_of(set(managed) - gone)]
    if any(body is None for body in group_bodies):
        raise Unsure("a changed group is gone (deleted groups are named only by e-mail)")
    changed_groups = records(snap, GROUP.label, "group", list(group_bodies), g.to_group)
    group_ids = {
        n: str(b["id"]) for n, b in zip(to_read, group_bodies, strict=True) if b and "id" in b
    }
    group_ids.update(resolved)
    members = {m: _member(m, mirror, known) for _, m in log.latest}
    # only the staged edges of the members the log names: the events are about those
    edges_before = set(staged.edges_of_members({m for m in members.values() if m}))
    added, removed, again = apply(log, group_ids, mirror_groups, members, edges_before, deleted)
    if TIE in again.values():  # settled by one members.get a pair where that is enough
        log = await ties.settle(source, log, again, group_ids, members)
        added, removed, again = apply(log, group_ids, mirror_groups, members, edges_before, deleted)
    again_ids = {group_ids[n] for n in again if n in group_ids}
    _why(source, {n: why for n, why in again.items() if n in group_ids}, progress)
    _cost_switch(source, len(again_ids), len(mirror_groups))
    resolved_again = {n: gid for n, gid in resolved.items() if n in again}
    changed_groups += await _records(source, snap, resolved_again)
    reread = [grp for grp in changed_groups if grp.source_id in again_ids]
    edges = await _listings(source, snap, reread)
    if not snap.complete or snap.skipped or any(e is None for e in edges):
        reasons = snap.incomplete_reasons or [s.reason for s in snap.skipped] or ["a group left"]
        raise Unsure("; ".join(reasons))
    _replace_edges(result, staged, reread, [e or [] for e in edges])
    result.groups = changed_groups
    result.added = sorted(set(result.added) | added)
    result.removed = sorted(set(result.removed) | removed)
    source.stats.extra.update(members_applied=len(added) + len(removed), groups_reread=len(reread))
    return result


async def _records(source: GoogleSource, snap: Snapshot, ids: dict[str, str]) -> list[SourceGroup]:
    """The current records of groups the mirror resolved whose listings are read again."""
    names = sorted(ids)
    bodies = await fetch_many(source, GROUP, "groupKey", names) if names else []
    for name, body in zip(names, bodies, strict=True):
        if body is None or str(body.get("id")) != ids[name]:
            raise Unsure(f"group {name} is not the staged group {ids[name]} any more")
    return records(snap, GROUP.label, "group", list(bodies), g.to_group)


def _member(email: str, mirror: dict[str, str], now: dict[str, str]) -> str | None:
    """The user id at a member address, ``None`` when not sure (see :mod:`.memberlog`)."""
    before, after = mirror.get(email), now.get(email)
    if before is not None and after is not None and before != after:
        return None
    return after or before


def _why(source: GoogleSource, reasons: Reasons, progress: Progress) -> None:
    """Count the reasons for reading listings again (``reread_reasons``) and name the groups."""
    if not reasons:
        return
    counts = Counter(reasons.values())
    source.stats.extra["reread_reasons"] = dict(sorted(counts.items()))
    shown = ", ".join(f"{name} ({why})" for name, why in sorted(reasons.items())[:SHOWN])
    more = f" and {len(reasons) - SHOWN} more" if len(reasons) > SHOWN else ""
    progress(Event("fetch", f"reading again the members of {len(reasons)} groups: {shown}{more}"))


def _cost_switch(source: GoogleSource, reread: int, total: int) -> None:
    """A full read when more than ``report_reread_share`` of all groups must be read again."""
    share = source.settings.report_reread_share
    if reread and reread > share * total:
        source.stats.extra["cost_switch"] = f"{reread} of {total} groups to read again"
        raise Unsure(f"{reread} of {total} groups to read again (report_reread_share = {share})")


async def _listings(
    source: GoogleSource, snap: Snapshot, groups: list[SourceGroup]
) -> list[EdgeList | None]:
    """The member listings of ``groups``: in rolling batches, or one request a page."""
    if source.settings.batch_size and groups:
        lanes = Lanes(source.http.budget.concurrency)
        lanes.chain_done()  # no chain here: every slot is for the listings
        return await rolling.all_members(source, snap, groups, lanes)
    return list(await gather(*(source._members(snap, grp) for grp in groups)))


async def _user(source: GoogleSource, item: dict[str, Any], known: dict[str, str]) -> SourceUser:
    email = g.manager_email(item)
    manager = known.get(email or "")
    if email and manager is None:
        manager = await source._manager_id(email)
    ref = google_photos.version(item) if source.settings.fetch_photos else None
    return g.to_user(item, manager, ref)


def _replace_edges(
    result: DeltaResult,
    staged: Snapshot,
    groups: list[SourceGroup],
    edges: Sequence[Iterable[Membership]],
) -> None:
    """The groups (upserts) and their edges: new ones added, those no longer listed removed."""
    result.groups = list(groups)
    ids = {grp.source_id for grp in groups}
    now = {edge for found in edges for edge in found}
    before = set(staged.edges_of_groups(ids))
    result.added = sorted(now - before)
    result.removed = sorted(before - now)
