"""Delta queries: ``/users/delta`` and ``/groups/delta`` (any of the three spellings).

The first call (no token) pages through every object, then ends with ``@odata.deltaLink``
carrying ``$deltatoken`` = the tenant's change-log version at that moment. A later call with that
token pages through the objects changed since: present ones in full, removed ones as
``{"id", "@removed": {"reason": "changed" | "deleted"}}``. Groups carry ``members@delta`` (all
members on a first sync, adds and ``@removed`` entries later); a group with more members than fit
on a page is repeated over several pages with successive member slices, as Graph does.
Users with ``manager`` in ``$select`` carry ``manager@delta`` (see :func:`_manager_delta`).
``$deltatoken=latest`` returns no objects and a delta link for "from now on".

**Scoping filter.** The only ``$filter`` Graph takes on a delta query is by object id:
``id eq '…'`` clauses joined with ``or``, at most :data:`MAX_FILTER_IDS` of them (any other
filter, or more ids, is a 400 ``Request_UnsupportedQuery``). The ids are kept in every link of the
round (like ``$select``): a first round lists only those objects, a later one only their
changes; ``$deltatoken=latest`` takes the filter too. As Graph tracks only the properties in
``$select``, a groups round whose ``$select`` leaves ``members`` out does not list a group whose
only changes are membership changes.
:meth:`DeltaEngine.expire_tokens` makes every earlier token fail with 400 ``syncStateNotFound``.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Any

from idpsync.emulators.entra import render
from idpsync.emulators.entra.api import Call
from idpsync.emulators.entra.odata import GraphError, decode_token, encode_token, parse_query
from idpsync.emulators.tenant import Tenant

PAGE_OBJECTS = 200
"""Most objects on one delta page."""
PAGE_LINKS = 500
"""Most ``members@delta`` entries on one delta page."""
MAX_FILTER_IDS = 50
"""Most ``id eq`` clauses in one delta query's ``$filter``."""
_ID_CLAUSE = re.compile(r"^\s*id\s+eq\s+'([^']+)'\s*$", re.I)


@dataclass
class DeltaEngine:
    """Serves delta pages; ``generation`` invalidates outstanding tokens when bumped."""

    generation: int = 0
    page_objects: int = PAGE_OBJECTS
    page_links: int = PAGE_LINKS
    _windows: dict[tuple[str, int, int, bool], tuple[list[str], dict[str, dict[str, bool]]]] = (
        field(default_factory=dict, repr=False)
    )
    """Changed objects and member changes of recent windows (every partition's page asks)."""

    def expire_tokens(self) -> None:
        """Every delta/skip token issued so far now answers 400 ``syncStateNotFound``."""
        self.generation += 1

    def serve(self, call: Call, kind: str) -> dict[str, Any]:
        """Answer one delta request for ``kind`` = ``users`` or ``groups``."""
        params = call.params
        if "$deltatoken" in params and params["$deltatoken"] == "latest":
            state = self._state(call, kind, call.tenant.version)
            return self._end(call, kind, [], state)
        token = params.get("$skiptoken") or params.get("$deltatoken")
        if token is None:
            state = self._state(call, kind, -1)
            state.update(t=call.tenant.version, p=0, m=0)
        else:
            state = decode_token(token)
            if state.get("g") != self.generation or state.get("k") != kind:
                raise GraphError(
                    400,
                    "syncStateNotFound",
                    "The sync state generation is not found. Start a new sync without the token.",
                )
            if "$deltatoken" in params:
                state.update(f=state.pop("v"), t=call.tenant.version, p=0, m=0)
        return self._page(call, kind, state)

    def _state(self, call: Call, kind: str, version: int) -> dict[str, Any]:
        allowed = render.USER_PROPS if kind == "users" else render.GROUP_PROPS
        query = parse_query({"$select": call.params.get("$select", "")}, {}, allowed)
        state: dict[str, Any] = {
            "k": kind,
            "g": self.generation,
            "v": version,
            "f": version,
            "s": list(query.select or ()),
        }
        if "$filter" in call.params:
            state["i"] = scoped_ids(call.params["$filter"])
        return state

    def _items(self, call: Call, kind: str, state: dict[str, Any]) -> list[str]:
        t = call.tenant
        ids = state.get("i")
        if state["f"] < 0:
            every = t.user_ids if kind == "users" else t.group_ids
            if ids is None:
                return every
            present = t.users if kind == "users" else t.groups
            return [i for i in dict.fromkeys(ids) if i in present]
        members = kind == "users" or not state["s"] or "members" in state["s"]
        changed, _ = self._window(call, kind, state, members)
        if ids is None:
            return changed
        wanted = set(ids)
        return [i for i in changed if i in wanted]

    def _window(
        self, call: Call, kind: str, state: dict[str, Any], members: bool
    ) -> tuple[list[str], dict[str, dict[str, bool]]]:
        """Objects changed in the round's window, and the window's member changes.

        Without ``members`` a group whose only changes were membership changes is left out.
        """
        key = (kind, state["f"], state["t"], members)
        if key not in self._windows:
            t = call.tenant
            net = t.member_changes(state["f"], state["t"]) if kind == "groups" else {}
            lo = bisect.bisect_right(t.changes, state["f"], key=lambda c: c[0])
            hi = bisect.bisect_right(t.changes, state["t"], key=lambda c: c[0])
            wanted = "user" if kind == "users" else "group"
            only_members: set[int] = set()
            if not members:
                log = t.membership_log
                at = bisect.bisect_right(log, state["f"], key=lambda c: c.version)
                to = bisect.bisect_right(log, state["t"], key=lambda c: c.version)
                only_members = {c.version for c in log[at:to]}
            changed = {
                i: None for v, k, i in t.changes[lo:hi] if k == wanted and v not in only_members
            }
            if len(self._windows) >= 8:
                self._windows.clear()
            self._windows[key] = (list(changed), net)
        return self._windows[key]

    def _page(self, call: Call, kind: str, state: dict[str, Any]) -> dict[str, Any]:
        items = self._items(call, kind, state)
        members = None
        if kind == "groups" and state["f"] >= 0:
            members = self._window(call, kind, state, True)[1]
        value: list[dict[str, Any]] = []
        links = 0
        pos, offset = state["p"], state["m"]
        while pos < len(items) and len(value) < self.page_objects and links < self.page_links:
            entry, used, done = self._entry(
                call, kind, items[pos], state, offset, members, self.page_links - links
            )
            if entry is not None:
                value.append(entry)
            links += used
            pos, offset = (pos + 1, 0) if done else (pos, offset + used)
        if pos < len(items):
            state.update(p=pos, m=offset)
            return self._link(call, value, "@odata.nextLink", "$skiptoken", state)
        return self._end(call, kind, value, state)

    def _end(
        self, call: Call, kind: str, value: list[Any], state: dict[str, Any]
    ) -> dict[str, Any]:
        final = {
            "k": kind,
            "g": self.generation,
            "v": state["t"] if "t" in state else state["v"],
            "s": state["s"],
        }
        if "i" in state:
            final["i"] = state["i"]
        return self._link(call, value, "@odata.deltaLink", "$deltatoken", final)

    def _link(
        self, call: Call, value: list[Any], name: str, param: str, state: dict[str, Any]
    ) -> dict[str, Any]:
        path = "/".join(call.segments)
        return {
            "@odata.context": f"{call.base}/$metadata#{call.segments[0]}",
            name: f"{call.base}/{path}?{param}={encode_token(state)}",
            "value": value,
        }

    def _entry(
        self,
        call: Call,
        kind: str,
        object_id: str,
        state: dict[str, Any],
        offset: int,
        members: dict[str, dict[str, bool]] | None,
        room: int,
    ) -> tuple[dict[str, Any] | None, int, bool]:
        """(object JSON or None, member links used, whether the object is finished)."""
        t = call.tenant
        select = tuple(state["s"]) or None
        if kind == "users":
            user = t.users.get(object_id)
            if user is None:
                return _removed(t.removed.get(object_id), object_id), 0, True
            body = render.project(render.user_json(t, user), select, render.USER_DEFAULT)
            body = {"id": object_id, **body}
            if select is not None and "manager" in select:
                _manager_delta(t, body, user.manager_id, state["f"])
            return body, 0, True
        group = t.groups.get(object_id)
        if group is None:
            return _removed(t.removed.get(object_id), object_id), 0, True
        default = render.GROUP_DEFAULT
        body = {"id": object_id, **render.project(render.group_json(t, group), select, default)}
        if select is not None and "members" not in select:
            return body, 0, True
        if members is None:
            ids = t.member_list(object_id)[offset : offset + room]
            edges = [_edge(t.kind_of(m), m, True) for m in ids]
            total = len(t.member_list(object_id))
        else:
            changes = list(members.get(object_id, {}).items())
            total = len(changes)
            edges = [_edge(t.kind_of(m), m, added) for m, added in changes[offset : offset + room]]
        body["members@delta"] = edges
        return body, len(edges), offset + len(edges) >= total


def scoped_ids(text: str) -> list[str]:
    """The ids of a delta query's ``$filter`` (``id eq '…' or …``); anything else is a 400."""
    clauses = re.split(r"\s+or\s+", text.strip(), flags=re.I)
    ids = [m.group(1) for m in map(_ID_CLAUSE.match, clauses) if m is not None]
    if len(ids) != len(clauses):
        raise GraphError(
            400,
            "Request_UnsupportedQuery",
            "Unsupported query: a delta query filters only by id ('id eq' clauses joined by 'or').",
        )
    if len(ids) > MAX_FILTER_IDS:
        raise GraphError(
            400,
            "Request_UnsupportedQuery",
            f"Unsupported query: a delta query filters at most {MAX_FILTER_IDS} ids.",
        )
    return ids


def _manager_delta(t: Tenant, body: dict[str, Any], manager_id: str | None, since: int) -> None:
    """``manager@delta`` of a user: its manager on a first round, a changed one later.

    A later round names the manager only when it changed since the token's version: the new
    one, or the old one with ``@removed`` when it was taken away (unchanged: no annotation).
    """
    if since >= 0:
        start = bisect.bisect_right(t.manager_log, since, key=lambda entry: entry[0])
        later = (old for _, uid, old in t.manager_log[start:] if uid == body["id"])
        before = next(later, manager_id)
        if before == manager_id:
            return
        if manager_id is None:
            body["manager@delta"] = [_edge("user", before or "", False)]
            return
    if manager_id is not None:
        body["manager@delta"] = [_edge("user", manager_id, True)]


def _removed(reason: str | None, object_id: str) -> dict[str, Any] | None:
    return {"id": object_id, "@removed": {"reason": reason}} if reason else None


def _edge(kind: str | None, member_id: str, added: bool) -> dict[str, Any]:
    edge: dict[str, Any] = {"@odata.type": render.ODATA_TYPE[kind or "user"], "id": member_id}
    if not added:
        edge["@removed"] = {"reason": "deleted"}
    return edge
