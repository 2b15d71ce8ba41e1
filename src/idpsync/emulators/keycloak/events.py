"""Admin events of the emulated realm: recorded when the realm saves them, served as Keycloak does.

Keycloak saves an admin event for every change made through the Admin API, but only when the
realm's ``adminEventsEnabled`` is on (off by default; Realm settings → Events → Admin events
settings). The emulator records them from the tenant's change log (every change made through
the control API or the ``/_emulator/tenant/…`` routes), stamped with the emulator's clock when
it next looks (before any admin answer, or when :meth:`AdminEventLog.sync` is called; every
change found in one look carries that look's one stamp, so changes made between two answers
share a millisecond, as a script's quick changes can on a real server), so a stamp is never
earlier than the change:

- a user created, changed or deleted: ``USER`` ``CREATE``/``UPDATE``/``DELETE``,
  ``resourcePath`` ``users/{id}``;
- a user added to or removed from a group: ``GROUP_MEMBERSHIP`` ``CREATE``/``DELETE``,
  ``users/{uid}/groups/{gid}`` (not recorded for a user or group deleted at the same time:
  Keycloak drops those memberships without events);
- a group created, renamed, deleted or moved under another: ``GROUP``, ``groups/{id}``;
- turning admin events on: ``REALM`` ``UPDATE`` ``events/config`` (turning them off is not
  recorded: the realm no longer saves events by then).

``GET admin-events`` (role ``view-events``) answers newest first (Keycloak's JPA store orders
by ``time`` descending), filtered by ``resourceTypes`` and ``operationTypes`` (repeated
parameters), ``resourcePath`` (``*`` wildcards), ``dateFrom``/``dateTo`` as ``yyyy-MM-dd``
dates in the server's zone (UTC here; Keycloak 23 answers 400 to anything else, e.g. epoch
milliseconds, which only Keycloak 26 accepts), then ``first``/``max`` (default 100).
``GET events/config`` gives the realm's events settings.
"""

from __future__ import annotations

import bisect
import re
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from idpsync.emulators.keycloak.api import AdminError, number
from idpsync.emulators.tenant import Tenant

RESOURCE_TYPES = frozenset({"USER", "GROUP", "GROUP_MEMBERSHIP", "REALM", "CLIENT", "REALM_ROLE"})
"""The resource types the emulator knows (Keycloak has more; any other name is a 500)."""
OPERATIONS = frozenset({"CREATE", "UPDATE", "DELETE", "ACTION"})
BAD_DATE = "Invalid value for 'Date(From)', expected format is yyyy-MM-dd"


class AdminEventLog:
    """The realm's saved admin events and its ``adminEventsEnabled`` switch."""

    def __init__(
        self, tenant: Tenant, realm_id: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.tenant, self.realm_id, self.clock = tenant, realm_id, clock
        self.enabled = False
        """The realm's ``adminEventsEnabled``."""
        self.events: list[dict[str, Any]] = []
        """Saved events, oldest first."""
        self._version = tenant.version
        self._members = len(tenant.membership_log)
        self._known = set(tenant.users) | set(tenant.groups)
        self._last_ms = 0

    def set_enabled(self, enabled: bool) -> None:
        """Turn saving on or off (changes before this are recorded under the old setting)."""
        self.sync()
        if enabled and not self.enabled:
            self.enabled = True
            self._save("UPDATE", "REALM", "events/config")
        self.enabled = enabled

    def clear(self) -> None:
        """``DELETE admin-events``: forget every saved event."""
        self.sync()
        self.events.clear()

    def _now_ms(self) -> int:
        self._last_ms = max(self._last_ms, int(self.clock() * 1000))
        return self._last_ms

    def _save(self, operation: str, resource: str, path: str, when: int | None = None) -> None:
        self.events.append(
            {
                "time": self._now_ms() if when is None else when,
                "realmId": self.realm_id,
                "authDetails": {
                    "realmId": self.realm_id,
                    "clientId": "emulator",
                    "userId": "emulator",
                    "ipAddress": "127.0.0.1",
                },
                "operationType": operation,
                "resourceType": resource,
                "resourcePath": path,
            }
        )

    def sync(self) -> None:
        """Turn the tenant's changes since the last look into events (when saving is on)."""
        t = self.tenant
        if t.version == self._version:
            return
        changes = t.changes[bisect.bisect_right(t.changes, self._version, key=lambda c: c[0]) :]
        members = t.membership_log[self._members :]
        self._version, self._members = t.version, len(t.membership_log)
        if not changes:
            return
        when = self._now_ms()  # one stamp for every change of this look (module docstring)
        by_version = {m.version: m for m in members}
        gone = {oid for _, _, oid in changes if oid not in t.users and oid not in t.groups}
        last = {oid: version for version, _, oid in changes}
        for version, kind, oid in changes:
            edge = by_version.get(version)
            if edge is not None:
                self._membership(edge.group_id, edge.member_id, edge.added, gone, when)
                continue
            if version == last[oid] and oid in gone:
                operation = "DELETE"
            elif oid not in self._known:
                operation = "CREATE"
            else:
                operation = "UPDATE"
            self._known.add(oid)
            if self.enabled:
                self._save(operation, kind.upper(), f"{kind}s/{oid}", when)

    def _membership(self, gid: str, member: str, added: bool, gone: set[str], when: int) -> None:
        if not self.enabled or gid in gone or member in gone:
            return
        if member in self.tenant.groups:  # a group moved under another
            self._save("UPDATE", "GROUP", f"groups/{member}", when)
            return
        operation = "CREATE" if added else "DELETE"
        self._save(operation, "GROUP_MEMBERSHIP", f"users/{member}/groups/{gid}", when)

    def config(self) -> dict[str, Any]:
        """``GET events/config``: a RealmEventsConfigRepresentation."""
        return {
            "eventsEnabled": False,
            "eventsListeners": ["jboss-logging"],
            "enabledEventTypes": [],
            "adminEventsEnabled": self.enabled,
            "adminEventsDetailsEnabled": False,
        }

    def query(self, items: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
        """``GET admin-events`` with the query's (possibly repeated) parameters."""
        self.sync()
        multi: dict[str, list[str]] = {}
        for key, value in items:
            multi.setdefault(key, []).append(value)
        one = {k: v[0] for k, v in multi.items()}
        types = _names(multi.get("resourceTypes", []), RESOURCE_TYPES)
        operations = _names(multi.get("operationTypes", []), OPERATIONS)
        start = _day_ms(one.get("dateFrom"))
        end = _day_ms(one.get("dateTo"))
        path = _like(one["resourcePath"]) if one.get("resourcePath") else None
        hits = [
            e
            for e in reversed(self.events)
            if (types is None or e["resourceType"] in types)
            and (operations is None or e["operationType"] in operations)
            and (start is None or e["time"] >= start)
            and (end is None or e["time"] <= end)
            and (path is None or path.fullmatch(e["resourcePath"]) is not None)
        ]
        first = max(0, number(one, "first", 0) or 0)
        limit = number(one, "max", 100)
        if limit is None or limit < 0:
            return hits[first:]
        return hits[first : first + limit]


def _names(values: list[str], known: frozenset[str]) -> frozenset[str] | None:
    """Enum names from repeated parameters; an unknown one fails as ``valueOf`` does (500)."""
    if not values:
        return None
    for value in values:
        if value not in known:
            raise AdminError(500, {"error": "unknown_error"})
    return frozenset(values)


def _day_ms(value: str | None) -> int | None:
    """Midnight (UTC) of a ``yyyy-MM-dd`` date in epoch milliseconds; 400 for anything else."""
    if value is None or value == "":
        return None
    if not re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", value):
        raise AdminError(400, {"error": BAD_DATE})
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise AdminError(400, {"error": BAD_DATE}) from None
    return int(day.timestamp() * 1000)


def _like(pattern: str) -> re.Pattern[str]:
    """``resourcePath`` as SQL ``LIKE`` with ``*`` for ``%``."""
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")))
