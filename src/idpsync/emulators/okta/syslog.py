"""The emulated org's System Log: events for the changes made through the control routes.

Okta records every change as a ``LogEvent`` (``uuid``, ``published``, ``eventType``, ``actor``,
``outcome``, ``target`` …) and serves them at ``GET /api/v1/logs``. This module turns the
tenant's change log into such events, lazily: :meth:`SystemLog.scan` runs before each request
the emulator answers, and stamps each new event with the emulator's clock at that moment (so an
event is never published before its change, at most one request later, which is the kind of lag
Okta's log has). Event types written:

==========================================  ==============================================
change                                       ``eventType`` (targets)
==========================================  ==============================================
user created                                 ``user.lifecycle.create`` (+ ``…activate``)
user attribute changed                       ``user.account.update_profile`` (User)
status set to SUSPENDED / DEPROVISIONED      ``user.lifecycle.suspend`` / ``…deactivate``
SUSPENDED → ACTIVE, other → ACTIVE           ``user.lifecycle.unsuspend`` / ``…activate``
user deleted                                 ``user.lifecycle.delete.initiated`` (User)
member added / removed                       ``group.user_membership.add`` / ``…remove``
                                             (User and UserGroup)
group created / renamed / deleted            ``group.lifecycle.create`` /
                                             ``group.profile.update`` / ``group.lifecycle.delete``
==========================================  ==============================================

Events older than :data:`RETENTION_DAYS` are gone, as in Okta (90 days).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from idpsync.emulators.tenant import Tenant

RETENTION_DAYS = 90
"""How long Okta keeps System Log events."""
ACTOR = {
    "id": "0oaemulatoradmin0000",
    "type": "PublicClientApp",
    "alternateId": "emulator-admin",
    "displayName": "Emulator control API",
}


@dataclass(frozen=True, slots=True)
class Event:
    """One recorded event: its time (epoch seconds) and JSON."""

    at: float
    body: dict[str, Any]


def timestamp(moment: float) -> str:
    """Epoch seconds in Okta's ``published`` form (milliseconds, ``Z``)."""
    text = datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return text[:-3] + "Z"


def parse_time(text: str) -> float:
    """An ISO 8601 ``since`` / ``until`` as epoch seconds; ``ValueError`` when it is not one."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class SystemLog:
    """The org's events, built from the tenant's change log (see module docstring)."""

    def __init__(
        self, tenant: Tenant, clock: Callable[[], float], status_of: Callable[[str], str]
    ) -> None:
        self.tenant, self.clock, self.status_of = tenant, clock, status_of
        self.events: list[Event] = []
        self.transitions: dict[int, tuple[str, str]] = {}
        """Tenant change version → (old, new) status, noted by ``OktaEmulator.set_status``."""
        self._users = set(tenant.users)
        self._groups = set(tenant.groups)
        self._names: dict[str, tuple[str, str]] = {}
        self._scanned = (len(tenant.changes), len(tenant.membership_log))

    def scan(self) -> None:
        """Record events for every change since the last scan, stamped now."""
        t = self.tenant
        done, members_done = self._scanned
        if done == len(t.changes):
            return
        edges = {c.version: c for c in t.membership_log[members_done:]}
        batch = t.changes[done:]
        last = {object_id: index for index, (_, _, object_id) in enumerate(batch)}
        now = self.clock()
        for index, (version, kind, object_id) in enumerate(batch):
            final = last[object_id] == index
            if kind == "user":
                self._user_change(now, version, object_id, final)
            elif version in edges:
                change = edges[version]
                verb = "add" if change.added else "remove"
                targets = [self._user(change.member_id), self._group(change.group_id)]
                if change.member_id in t.users or change.member_id in self._users:
                    self._add(now, f"group.user_membership.{verb}", targets)
            else:
                self._group_change(now, object_id, final)
        self._scanned = (len(t.changes), len(t.membership_log))

    def _user_change(self, now: float, version: int, uid: str, final: bool) -> None:
        target = [self._user(uid)]
        if uid not in self._users:
            self._users.add(uid)
            self._add(now, "user.lifecycle.create", target)
            if self.status_of(uid) == "ACTIVE":
                self._add(now, "user.lifecycle.activate", target)
        elif final and uid not in self.tenant.users:
            self._users.discard(uid)
            self._add(now, "user.lifecycle.delete.initiated", target)
        elif version in self.transitions:
            old, new = self.transitions.pop(version)
            self._add(now, _lifecycle(old, new), target)
        else:
            self._add(now, "user.account.update_profile", target)

    def _group_change(self, now: float, gid: str, final: bool) -> None:
        target = [self._group(gid)]
        if gid not in self._groups:
            self._groups.add(gid)
            self._add(now, "group.lifecycle.create", target)
        elif final and gid not in self.tenant.groups:
            self._groups.discard(gid)
            self._add(now, "group.lifecycle.delete", target)
        else:
            self._add(now, "group.profile.update", target)

    def _user(self, uid: str) -> dict[str, Any]:
        user = self.tenant.users.get(uid)
        if user is not None:
            self._names[uid] = (self.tenant.login(user), user.display_name)
        login, name = self._names.get(uid, ("unknown", "unknown"))
        return _target(uid, "User", login, name)

    def _group(self, gid: str) -> dict[str, Any]:
        group = self.tenant.groups.get(gid)
        if group is not None:
            self._names[gid] = ("unknown", group.name)
        return _target(gid, "UserGroup", "unknown", self._names.get(gid, ("", "unknown"))[1])

    def _add(self, now: float, event_type: str, targets: list[dict[str, Any]]) -> None:
        body: dict[str, Any] = {
            "uuid": _uuid4(),
            "published": timestamp(now),
            "eventType": event_type,
            "version": "0",
            "severity": "INFO",
            "displayMessage": event_type.replace(".", " "),
            "actor": dict(ACTOR),
            "outcome": {"result": "SUCCESS"},
            "target": targets,
            "transaction": {"type": "WEB", "id": _uuid4().replace("-", "")[:20], "detail": {}},
            "debugContext": {"debugData": {}},
            "request": {"ipChain": []},
        }
        self.events.append(Event(now, body))

    def walk(
        self, since: float, until: float, after: int | None = None, descending: bool = False
    ) -> Iterator[tuple[int, Event]]:
        """Events with ``since <= published < until`` still kept, with their positions, lazily.

        From just past the position ``after`` (a page's cursor), in position order (reversed
        when ``descending``): a page takes what it needs and the events before its cursor are
        never looked at, so reading the whole log page by page is linear, not quadratic.
        """
        low = max(since, self.clock() - RETENTION_DAYS * 86400)
        events = self.events
        if descending:
            first = len(events) - 1 if after is None else min(after - 1, len(events) - 1)
            positions: Iterable[int] = range(first, -1, -1)
        else:
            positions = range(0 if after is None else max(after + 1, 0), len(events))
        for index in positions:
            event = events[index]
            if low <= event.at < until:
                yield index, event


def _uuid4() -> str:
    """A random (version 4) UUID's text, without building a :class:`uuid.UUID`.

    A batch of changes makes tens of thousands of events in the request that first sees them.
    """
    bits = (random.getrandbits(128) & ~(0xF << 76) & ~(0x3 << 62)) | (4 << 76) | (0x2 << 62)
    text = f"{bits:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _target(object_id: str, kind: str, alternate: str, name: str) -> dict[str, Any]:
    return {
        "id": object_id,
        "type": kind,
        "alternateId": alternate,
        "displayName": name,
    }


def _lifecycle(old: str, new: str) -> str:
    """The event type of a status change."""
    if new == "SUSPENDED":
        return "user.lifecycle.suspend"
    if new == "DEPROVISIONED":
        return "user.lifecycle.deactivate"
    if new == "ACTIVE":
        return "user.lifecycle.unsuspend" if old == "SUSPENDED" else "user.lifecycle.activate"
    if new == "LOCKED_OUT":
        return "user.account.lock"
    if new == "PASSWORD_EXPIRED":
        return "user.account.expire_password"
    return "user.account.update_profile"
