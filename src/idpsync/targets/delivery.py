"""Delivery: push the change log to a target from its cursor, in order.

- The cursor (``targets.cursor``) is the last change the target confirmed; it moves only after
  the target answered a change (or a batch of membership changes) with success.
- A target that cannot be reached, fails with 5xx/429 after the retries, or refuses the token
  raises :class:`~idpsync.targets.errors.TargetDown`: delivery stops, the cursor stays, the
  status is ``down`` with the reason, and the next delivery resumes at the same change.
- A change the target *rejects* (a 4xx about that object) is recorded in ``target_failures``
  with the reason and the cursor moves on; the object is tried again (from the directory's
  current state, so a retry never sends stale data) after a backoff. When more than
  ``max_failure_rate`` of a run's changes are rejected the target is **quarantined**: delivery
  stops until ``idpsync deliver NAME --resume``.
- A target with a seat budget (``max_active_users``) holds creations and reactivations past
  it and delivers them when seats free up, in priority order (:mod:`~idpsync.targets.seats`).
- Everything is idempotent in effect: creates adopt what exists (409 → lookup), member adds of
  present members and removes of absent ones change nothing, deleting a missing object is done.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
from collections.abc import Iterator
from typing import Any

from idpsync.errors import ShapeError
from idpsync.store.store import now
from idpsync.targets.attribute_delivery import push_attributes, report_waiting, user_created
from idpsync.targets.errors import DryRunRejected, NotFound, Rejected, TargetError, unreadable
from idpsync.targets.photo_delivery import deliver_photos, note
from idpsync.targets.reconcile import reconcile
from idpsync.targets.reconcile_guard import ReconcileRefused
from idpsync.targets.seats import HeldUser, group_names_by_user, pending_activations
from idpsync.targets.session import DeliveryResult, Quarantine, Session
from idpsync.targets.state import (
    BUSY,
    DOWN,
    OK,
    QUARANTINED,
    FailureKey,
    lease_deadline,
    pending_changes,
)

GUARDED = "guarded"
"""A reconcile refused by its guard: nothing was sent."""

USER_OPS = ("user.create", "user.update", "user.deactivate", "user.reactivate", "user.anonymise")


async def deliver(
    session: Session, *, reconcile_first: bool = False, resume: bool = False
) -> DeliveryResult:
    """Run one delivery (or reconcile) for the session's target and record the outcome."""
    result = session.result
    row = session.state.row()
    result.cursor = int(row["cursor"])
    if row["status"] == QUARANTINED and not resume:
        result.status = QUARANTINED
        result.message = row["last_error"] or "quarantined"
        return result
    owner = f"{socket.gethostname()}:{os.getpid()}:{id(session)}"
    holder = None if session.dry_run else session.state.acquire(owner)
    if holder is not None:
        result.status = BUSY
        result.message = (
            f"another delivery to this target is running ({holder}); try again when it has finished"
        )
        return result
    try:
        status, error = await _run(session, reconcile_first, resume)
    finally:
        if not session.dry_run:
            session.state.release(owner)
    result.status = "dry_run" if session.dry_run and status == OK else status
    if error:
        result.message = error
    if not session.dry_run:
        session.state.record_round(
            status, last_error=error or _last_rejection(session), last_delivery_at=now()
        )
    return result


async def _run(session: Session, reconcile_first: bool, resume: bool) -> tuple[str, str | None]:
    try:
        if reconcile_first:
            await reconcile(session)
            await release_held(session)
        else:
            await retry_failures(session, everything=resume)
            await deliver_log(session)
            await release_held(session)
        report_waiting(session)  # managers of users released from the held queue too
        await deliver_photos(session, everyone=reconcile_first)
    except Quarantine as exc:
        return QUARANTINED, str(exc)
    except ReconcileRefused as exc:
        return GUARDED, str(exc)
    except TargetError as exc:
        return DOWN, str(exc)
    except (ValueError, LookupError, TypeError, RecursionError, ShapeError) as exc:
        # An answer the target's protocol code cannot read (not JSON, cut off, a resource
        # without "id", a list where an object belongs): the target is not usable now. Stop
        # and keep the cursor, as for a target that is down; nothing is lost.
        return DOWN, unreadable_answer(exc)
    finally:
        session.result.held = len(session.seats.held())
    return OK, None


def unreadable_answer(exc: BaseException) -> str:
    """The target's ``last_error`` for an answer that could not be read (one line, short)."""
    try:
        text = str(exc).splitlines()[0] if str(exc) else ""
    except Exception:  # a broken __str__ must not hide the failure
        text = ""
    detail = f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__
    return unreadable(detail)


def _last_rejection(session: Session) -> str | None:
    failures = session.state.failures()
    return failures[-1]["reason"] if failures else None


async def deliver_log(session: Session) -> None:
    """Push every change after the cursor, advancing the cursor after each confirmation."""
    result = session.result
    if session.seats.limit is not None:
        connectors = session.settings.connectors
        session.seats.contend(pending_activations(session.store, result.cursor, connectors))
    while True:
        rows = pending_changes(session.store, result.cursor, session.settings.connectors, 500)
        if not rows:
            report_waiting(session)
            return
        for batch in _batches(rows, session.options.members_per_patch):
            result.delivered += await _deliver_batch(session, batch)
            result.cursor = batch[-1]["seq"]
            if not session.dry_run:
                session.state.update(cursor=result.cursor, lease_until=lease_deadline())


async def _deliver_batch(session: Session, batch: list[dict[str, Any]]) -> int:
    """Deliver a batch; if the target rejects it, deliver its changes one by one."""
    if len(batch) > 1:
        try:
            await _apply(session, batch)
            return len(batch)
        except DryRunRejected as exc:
            session.result.would_send.append(f"{exc.method} {exc.url}")
            return 0
        except Rejected:
            pass  # find out which change it was, one at a time
    done = 0
    for row in batch:
        step = functools.partial(_apply, session, [row])
        if await session.attempt(_key(row), row["seq"], row["op"], step):
            done += 1
    return done


def _batches(rows: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    """Single changes, except runs of the same membership op on one group, up to ``size``."""
    batch: list[dict[str, Any]] = []
    for row in rows:
        same = (
            batch
            and row["object_type"] == "member"
            and (
                (row["op"], row["connector"], row["source_id"])
                == (batch[0]["op"], batch[0]["connector"], batch[0]["source_id"])
            )
        )
        if batch and (not same or len(batch) >= size):
            yield batch
            batch = []
        batch.append(row)
    if batch:
        yield batch


def _key(row: dict[str, Any]) -> FailureKey:
    if row["object_type"] == "member":
        edge = row["after"] or row["before"] or {}
        return FailureKey(
            "member",
            row["connector"],
            edge.get("group", row["source_id"]),
            edge.get("member_kind", ""),
            edge.get("member", ""),
        )
    return FailureKey(row["object_type"], row["connector"], row["source_id"])


async def _apply(session: Session, batch: list[dict[str, Any]]) -> None:
    row = batch[0]
    op, connector, sid = row["op"], row["connector"], row["source_id"]
    session.change = (int(row["seq"]), op)
    if op in USER_OPS:
        await _user_change(session, connector, sid, row["after"] or {}, row["before"])
    elif op == "user.delete":
        await _remove_user(session, connector, sid)
    elif op == "user.relink":
        _relink_user(session, connector, (row["before"] or {}).get("source_id"), sid)
    elif op in ("group.create", "group.update"):
        await _group_change(session, connector, sid, (row["after"] or {}).get("name"))
    elif op == "group.delete":
        await _delete_group(session, connector, sid)
    elif op in ("member.add", "member.remove"):
        edges = [r["after"] or r["before"] or {} for r in batch]
        await _members(session, connector, sid, op == "member.add", edges)


async def _user_change(
    session: Session,
    connector: str,
    sid: str,
    after: dict[str, Any],
    before: dict[str, Any] | None = None,
) -> None:
    remote = session.state.remote_id("user", connector, sid)
    if remote is None:
        await session.ensure_user(connector, sid)
        await user_created(session, connector, sid)
        return
    if "photo_ref" in after:
        note(session, connector, sid)
    if not session.may_activate(connector, sid, after):
        return  # a reactivation past the seat budget: held until a seat frees up
    try:
        renamed = await session.target.update_user(remote, after)
    except NotFound:
        session.forget("user", connector, sid)  # removed in the target behind our back
        await session.ensure_user(connector, sid)
        await user_created(session, connector, sid)
        return
    if renamed and renamed != remote:
        session.remember("user", connector, sid, renamed)
    session.note_active(connector, sid, after)
    await push_attributes(session, connector, sid, after, before=before)


def _relink_user(session: Session, connector: str, old: str | None, new: str) -> None:
    """The IdP re-created a user under a new id and the directory kept the account: so do we."""
    remote = session.state.remote_id("user", connector, old) if old else None
    if remote is None or old is None:
        return
    session.forget("user", connector, old)
    session.remember("user", connector, new, remote)
    note(session, connector, new)  # the photo bookkeeping went with the old id


async def _remove_user(session: Session, connector: str, sid: str) -> None:
    remote = session.state.remote_id("user", connector, sid)
    if remote is None:
        session.seats.drop((connector, sid))  # a held user needs no seat any more
        return
    with contextlib.suppress(NotFound):
        await session.target.remove_user(remote)
    session.note_active(connector, sid, {"active": False})
    if session.options.delete_users:
        session.forget("user", connector, sid)


async def _group_change(session: Session, connector: str, sid: str, name: str | None) -> None:
    remote = session.state.remote_id("group", connector, sid)
    if remote is None:
        await session.ensure_group(connector, sid, name)
    elif name:
        try:
            new_id = await session.target.rename_group(remote, sid, name)
        except NotFound:
            session.forget("group", connector, sid)  # removed in the target behind our back
            await session.ensure_group(connector, sid, name)
            return
        if new_id != remote:
            session.remember("group", connector, sid, new_id)


async def _delete_group(session: Session, connector: str, sid: str) -> None:
    remote = session.state.remote_id("group", connector, sid)
    if remote is None:
        return
    with contextlib.suppress(NotFound):
        await session.target.delete_group(remote)
    session.forget("group", connector, sid)


async def _members(
    session: Session, connector: str, group_sid: str, add: bool, edges: list[dict[str, Any]]
) -> None:
    if add:
        group = await session.ensure_group(connector, group_sid)
        members = [
            await session.ensure_member(connector, e["member_kind"], e["member"]) for e in edges
        ]
    else:
        group = session.state.remote_id("group", connector, group_sid)
        members = [
            (rid, e["member_kind"])
            if (rid := session.state.remote_id(e["member_kind"], connector, e["member"]))
            else None
            for e in edges
        ]
    present = [m for m in members if m is not None]
    if group is None or not present:
        return
    if not add:
        with contextlib.suppress(NotFound):  # a group that is gone has no members to remove
            await session.target.remove_members(group, present)
        return
    try:
        await session.target.add_members(group, present)
    except NotFound:
        session.forget("group", connector, group_sid)  # removed in the target behind our back
        group = await session.ensure_group(connector, group_sid)
        if group is not None:
            await session.target.add_members(group, present)


async def retry_failures(session: Session, *, everything: bool = False) -> None:
    """Deliver again the rejected objects whose backoff has passed (all after ``--resume``).

    Each is delivered from the directory's current state, never from the stale change.
    """
    for failure in session.state.failures(due_before=None if everything else now()):
        key = FailureKey(
            failure["object_type"],
            failure["connector"],
            failure["source_id"],
            failure["member_kind"],
            failure["member_id"],
        )
        session.change = (int(failure["seq"]), failure["op"])
        if await session.attempt(
            key, failure["seq"], failure["op"], functools.partial(_converge, session, key)
        ):
            session.result.retried += 1
            if not session.dry_run:
                session.state.clear_failure(key)


async def _converge(session: Session, key: FailureKey) -> None:
    """Make the target hold what the directory holds now for one object or membership."""
    directory = session.directory(key.connector)
    if key.object_type == "user":
        fields = session.user_fields(key.connector, key.source_id)
        remote = session.state.remote_id("user", key.connector, key.source_id)
        if fields is None:
            await _remove_user(session, key.connector, key.source_id)
        elif remote is None:
            await session.ensure_user(key.connector, key.source_id, fields)
            await user_created(session, key.connector, key.source_id)
        else:
            note(session, key.connector, key.source_id)
            await _user_change(session, key.connector, key.source_id, fields)
            await push_attributes(session, key.connector, key.source_id)
    elif key.object_type == "group":
        group = directory.groups.get(key.source_id)
        if group is None:
            await _delete_group(session, key.connector, key.source_id)
        else:
            await _group_change(session, key.connector, key.source_id, group.name)
    else:
        present = any(
            m.group_id == key.source_id
            and m.member_id == key.member_id
            and m.member_kind.value == key.member_kind
            for m in directory.memberships
        )
        edge = {"group": key.source_id, "member": key.member_id, "member_kind": key.member_kind}
        await _members(session, key.connector, key.source_id, present, [edge])


async def release_held(session: Session) -> None:
    """Deliver the held users whose turn has come while seats are free, with their memberships.

    In ``seat_priority`` order, then by the change that held them (:mod:`.seats`).
    """
    seats = session.seats
    if not seats.held():
        return
    seats.recount()
    groups: dict[str, dict[str, set[str]]] = {}

    def groups_of(user: HeldUser) -> set[str]:
        if user.connector not in groups:
            groups[user.connector] = group_names_by_user(session.directory(user.connector))
        return groups[user.connector].get(user.source_id, set())

    for user in seats.next_up(groups_of):
        seats.grant((user.connector, user.source_id))
        key = FailureKey("user", user.connector, user.source_id)
        step = functools.partial(_release, session, user)
        if await session.attempt(key, user.seq, user.op, step):
            session.result.released += 1


async def _release(session: Session, user: HeldUser) -> None:
    """Create or reactivate a released user from the directory's state, then add their groups."""
    connector, sid = user.connector, user.source_id
    fields = session.user_fields(connector, sid)
    if fields is None:
        return
    session.change = (user.seq, user.op)
    await _user_change(session, connector, sid, fields)
    if session.state.remote_id("user", connector, sid) is None:
        return
    directory = session.directory(connector)
    for m in directory.memberships:
        if m.member_id == sid and m.member_kind.value == "user":
            edge = {"group": m.group_id, "member": sid, "member_kind": "user"}
            await _members(session, connector, m.group_id, True, [edge])
