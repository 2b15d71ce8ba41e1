"""Reconcile: make a target hold exactly the directory's state, adopting what is already there.

1. Note the newest change (``seq``), then read the directory and every user and group of the
   target.
2. Match each directory user to a target user: the object map, then ``externalId``, then
   ``userName`` and e-mail compared case-insensitively. A match is **adopted** (recorded in the
   map) instead of creating a duplicate; its differing attributes are fixed. No match: create
   (with its mapped attributes). Then the mapped attributes of the matched users are compared
   and put back where they drifted (:mod:`~idpsync.targets.attribute_drift`).
3. Groups likewise (map, ``externalId``, ``displayName``); then members: missing ones are
   added; members idpsync manages that the directory no longer has are removed. Members the
   target has that idpsync does not manage are left alone.
4. Mapped objects that left the directory are deactivated (users) or deleted (groups). Target
   users idpsync neither created nor adopted are left alone, unless ``unmanaged = "deactivate"``.
   Before any write, :mod:`~idpsync.targets.reconcile_guard` refuses a reconcile that would
   deactivate or delete too large a share of the target's users (unless deletes are allowed).
5. The cursor moves to the change noted in step 1 and old failures are cleared.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from idpsync.model import MemberKind
from idpsync.store.store import fold
from idpsync.targets import attribute_drift, photo_delivery, reconcile_guard
from idpsync.targets.base import USER_FIELDS, RemoteGroup, RemoteUser
from idpsync.targets.state import FailureKey, last_seq

if TYPE_CHECKING:
    from idpsync.targets.session import Session

Key = tuple[str, str]


async def reconcile(session: Session) -> None:
    """Run a reconcile of the session's target (see the module docstring)."""
    mark = last_seq(session.store, session.settings.connectors)
    connectors = session.connectors()
    readable = attribute_drift.readable(session)
    users = await session.target.list_users(readable, photos=photo_delivery.photos_on(session))
    groups = await session.target.list_groups()
    if not session.allow_deletes:
        directories = {c: session.directory(c) for c in connectors}
        reconcile_guard.check(session.options, users, session.state.remote_ids("user"), directories)
    matched: dict[Key, tuple[str, RemoteUser]] = {}
    user_ids = await _users(session, connectors, users, matched)
    await attribute_drift.repair_all(session, matched)
    await attribute_drift.settle_waiting(session)
    photo_delivery.compare_held(session, matched)  # the photo pass after the reconcile sends
    group_ids = await _groups(session, connectors, groups)
    await _members(session, connectors, groups, user_ids, group_ids)
    await _leftovers(session, connectors, users, user_ids)
    session.result.cursor = mark
    if not session.dry_run:
        session.state.clear_failures()
        session.state.update(cursor=mark)


async def _users(
    session: Session,
    connectors: list[str],
    remote: list[RemoteUser],
    matched: dict[Key, tuple[str, RemoteUser]],
) -> dict[Key, str]:
    """Match, adopt, fix or create every directory user.

    ``matched`` gets the users that were in the target: their remote id now, and as read.
    """
    mapped = session.state.remote_ids("user")
    by_id = {u.id: u for u in remote}
    by_ext = {u.external_id: u for u in remote if u.external_id}
    by_login = {fold(str(u.fields["login"])): u for u in remote if u.fields.get("login")}
    by_email = {fold(str(u.fields["email"])): u for u in remote if u.fields.get("email")}
    claimed: set[str] = set()
    ids: dict[Key, str] = {}
    for connector in connectors:
        for sid, user in sorted(session.directory(connector).users.items()):
            fields = {k: getattr(user, k) for k in USER_FIELDS}
            candidates = [
                by_id.get(mapped.get((connector, sid), "")),
                by_ext.get(sid),
                by_login.get(fold(user.login)),
                by_email.get(fold(user.email)) if user.email else None,
            ]
            match = next((c for c in candidates if c and c.id not in claimed), None)

            async def step(
                c: str = connector,
                s: str = sid,
                f: dict[str, Any] = fields,
                m: RemoteUser | None = match,
            ) -> None:
                remote_id = await _user(session, c, s, f, m, mapped.get((c, s)))
                if remote_id is not None:  # None: held for want of a seat
                    ids[(c, s)] = remote_id
                    if m is not None:
                        matched[(c, s)] = (remote_id, m)

            await session.attempt(FailureKey("user", connector, sid), 0, "reconcile", step)
            if match:
                claimed.add(match.id)
    return ids


async def _user(
    session: Session,
    connector: str,
    sid: str,
    fields: dict[str, Any],
    match: RemoteUser | None,
    mapped: str | None,
) -> str | None:
    from idpsync.targets.session import drift_of

    result = session.result
    if match is None:
        session.forget("user", connector, sid)
        remote_id = await session.ensure_user(connector, sid, fields)
        result.bump("created" if remote_id else "held")
        return remote_id
    remote_id = match.id
    active = bool(match.fields.get("active", True))
    if mapped != match.id:
        session.remember("user", connector, sid, match.id, adopted=True, active=active)
        if mapped is None:
            session.seats.created(active)  # an adopted active user holds a seat already
        result.bump("adopted")
    drift = drift_of(fields, match.fields)
    if drift.get("active") and not session.may_activate(connector, sid, fields):
        del drift["active"]  # a reactivation past the seat budget waits in the held queue
    if match.external_id != sid:
        drift["external_id"] = sid
    if drift:
        renamed = await session.target.update_user(match.id, drift)
        if renamed and renamed != match.id:
            remote_id = renamed
            session.remember("user", connector, sid, renamed, adopted=mapped != match.id)
        session.note_active(connector, sid, drift)
        result.bump("updated")
    result.delivered += 1
    return remote_id


async def _groups(
    session: Session, connectors: list[str], remote: list[RemoteGroup]
) -> dict[Key, str]:
    mapped = session.state.remote_ids("group")
    by_id = {g.id: g for g in remote}
    by_ext = {g.external_id: g for g in remote if g.external_id}
    by_name = {fold(g.name): g for g in remote}
    ids: dict[Key, str] = {}
    for connector in connectors:
        for sid, group in sorted(session.directory(connector).groups.items()):
            match = (
                by_id.get(mapped.get((connector, sid), ""))
                or by_ext.get(sid)
                or by_name.get(fold(group.name))
            )

            async def step(
                c: str = connector,
                s: str = sid,
                name: str = group.name,
                m: RemoteGroup | None = match,
            ) -> None:
                if m is None:
                    session.forget("group", c, s)
                    rid = await session.ensure_group(c, s, name)
                    assert rid is not None
                    session.result.bump("created")
                else:
                    rid = m.id
                    if mapped.get((c, s)) != m.id:
                        session.remember("group", c, s, m.id, adopted=True)
                        session.result.bump("adopted")
                    if m.name != name:
                        rid = await session.target.rename_group(m.id, s, name)
                        session.remember("group", c, s, rid)
                        session.result.bump("updated")
                ids[(c, s)] = rid
                session.result.delivered += 1

            await session.attempt(FailureKey("group", connector, sid), 0, "reconcile", step)
    return ids


async def _members(
    session: Session,
    connectors: list[str],
    remote: list[RemoteGroup],
    user_ids: dict[Key, str],
    group_ids: dict[Key, str],
) -> None:
    have = {g.id: g.members for g in remote}
    managed = set(user_ids.values()) | set(group_ids.values())
    for connector in connectors:
        wanted: dict[str, dict[str, str]] = {}
        for edge in session.directory(connector).memberships:
            ids = user_ids if edge.member_kind is MemberKind.USER else group_ids
            group = group_ids.get((connector, edge.group_id))
            member = ids.get((connector, edge.member_id))
            if group and member:
                wanted.setdefault(group, {})[member] = edge.member_kind.value
        for (c, sid), group in sorted(group_ids.items()):
            if c != connector:
                continue
            current = have.get(group, frozenset())
            add = [(m, k) for m, k in sorted(wanted.get(group, {}).items()) if m not in current]
            drop = [
                (m, "user") for m in sorted(current & managed) if m not in wanted.get(group, {})
            ]

            async def step(
                g: str = group, a: list[tuple[str, str]] = add, d: list[tuple[str, str]] = drop
            ) -> None:
                if a:
                    await session.target.add_members(g, a)
                    session.result.counts["members_added"] = session.result.counts.get(
                        "members_added", 0
                    ) + len(a)
                if d:
                    await session.target.remove_members(g, d)
                    session.result.counts["members_removed"] = session.result.counts.get(
                        "members_removed", 0
                    ) + len(d)

            await session.attempt(FailureKey("group", c, sid), 0, "reconcile", step)


async def _leftovers(
    session: Session, connectors: list[str], remote: list[RemoteUser], user_ids: dict[Key, str]
) -> None:
    """Mapped objects gone from the directory, and (if configured) unmanaged users."""
    active = {u.id for u in remote if u.fields.get("active", True)}
    for (connector, sid), remote_id in sorted(session.state.remote_ids("user").items()):
        if (
            connector in connectors
            and remote_id in active
            and sid not in session.directory(connector).users
        ):

            async def gone(r: str = remote_id, c: str = connector, s: str = sid) -> None:
                await session.target.remove_user(r)
                session.note_active(c, s, {"active": False})
                if session.options.delete_users:
                    session.forget("user", c, s)
                session.result.bump("removed")

            await session.attempt(FailureKey("user", connector, sid), 0, "reconcile", gone)
    for (connector, sid), remote_id in sorted(session.state.remote_ids("group").items()):
        if connector in connectors and sid not in session.directory(connector).groups:

            async def drop(r: str = remote_id, c: str = connector, s: str = sid) -> None:
                await session.target.delete_group(r)
                session.forget("group", c, s)
                session.result.bump("groups_deleted")

            await session.attempt(FailureKey("group", connector, sid), 0, "reconcile", drop)
    if session.options.unmanaged != "deactivate":
        return
    managed = set(user_ids.values()) | set(session.state.remote_ids("user").values())
    for user in remote:
        if user.id not in managed and user.fields.get("active", True):

            async def off(r: str = user.id) -> None:
                await session.target.update_user(r, {"active": False})
                session.result.bump("unmanaged_deactivated")

            await session.attempt(FailureKey("user", "", user.id), 0, "reconcile", off)
