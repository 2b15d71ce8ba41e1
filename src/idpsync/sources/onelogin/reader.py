"""The ``onelogin`` source: users, groups and roles from OneLogin's API in the fewest calls.

Reads, with one access token (``POST /auth/oauth2/v2/token``, valid 10 h):

1. ``GET /auth/rate_limit`` — the account's remaining hourly calls (budget preflight);
2. ``GET /api/1/groups`` — when ``groups_from`` is ``groups`` or ``both`` (50 per page);
3. ``GET /api/2/roles?limit=50`` — when ``groups_from`` is ``roles`` or ``both``;
4. ``GET /api/2/users?limit=50&fields=…`` — every user, each carrying its one ``group_id`` and
   its ``role_ids``, so memberships cost **no** extra call (never one call per user).

With the HTTP client's ``concurrency`` at 1 these run in this order. From 2 on, the users chain
starts right after the preflight and, once its first page has answered, the groups and roles
listings (one after the other) run alongside it: the read takes about as long as the users chain
instead of the sum. The request count is the same either way.

Request formula of a full snapshot, with P(n) = max(1, ceil(n / 50)) pages, U users, G groups
and R roles (``g`` = 1 when groups are read, ``r`` = 1 when roles are read, else 0)::

    requests = 1 (token) + 1 (rate limit) + g·P(G) + r·P(R) + P(U)

If the users' records lack ``role_ids`` (older API answers), roles' members are listed per
role instead: + Σ_roles P(members) — still never one call per user. An incremental read
(:meth:`OneLoginSource.delta`, see :mod:`~idpsync.sources.onelogin.delta`) replaces P(U)
with P(changed users). A single-user fetch costs 1 (token) + 1 (user; +1 when looked up by
name and the first filter misses) + 1 if the user is in a group + one per role.

The account allows 5,000 calls an hour for **all** its integrations. Before and during a read
the source watches ``X-RateLimit-Remaining``; at or below ``min_remaining_calls`` (or on a 429)
it stops, marks the snapshot incomplete with the reset time, and so removes nobody. Calls still
in flight count as spent, and a late answer never raises the remaining count, so two listings
side by side stop at the same floor. Which listing is cut may differ from the one-at-a-time order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from idpsync.auth import OneLoginCredentials
from idpsync.check_reads import Read, table_reads
from idpsync.diagnostics import token_probe
from idpsync.errors import SourceError
from idpsync.http import ConcreteEndpoint, Endpoint, HttpClient, HttpError, json_body
from idpsync.model import Membership, Snapshot, SourceGroup, SourceUser
from idpsync.sources.base import DeltaResult, Event, Probe, Progress, Source, no_progress
from idpsync.sources.lanes import gather
from idpsync.sources.onelogin import api as ol
from idpsync.sources.onelogin import delta as od
from idpsync.sources.onelogin.settings import OneLoginSourceSettings
from idpsync.sources.shape import records

log = logging.getLogger("idpsync.sources.onelogin.reader")


class BudgetStop(SourceError):
    """The hourly budget is at the configured floor (or exhausted): stop reading cleanly."""


def base_url(settings: OneLoginSourceSettings) -> str:
    """``base_url`` or ``https://{subdomain}.onelogin.com``."""
    if settings.base_url:
        return settings.base_url.rstrip("/")
    if not settings.subdomain:
        raise SourceError(
            "source.subdomain (or source.base_url) is required for a onelogin source: "
            "set subdomain = 'acme' for https://acme.onelogin.com"
        )
    return f"https://{settings.subdomain}.onelogin.com"


READS = {
    ol.USERS.name: Read({"limit": "1"}, gives="user"),
    ol.USER.name: Read(needs={"id": "user"}),
    ol.GROUPS.name: Read(gives="group"),
    ol.GROUP.name: Read(needs={"id": "group"}),
    ol.ROLES.name: Read({"limit": "1"}, gives="role"),
    ol.ROLE.name: Read(needs={"id": "role"}),
    ol.ROLE_USERS.name: Read({"limit": "1"}, needs={"id": "role"}),
}
"""How ``idpsync check`` reads each endpoint."""


def endpoint_table(
    settings: OneLoginSourceSettings, base: str | None = None
) -> list[ConcreteEndpoint]:
    """The calls this configuration makes (no credentials needed)."""
    used = [ol.TOKEN, ol.RATE_LIMIT, ol.USERS, ol.USER]
    if settings.groups_from in ("groups", "both"):
        used += [ol.GROUPS, ol.GROUP]
    if settings.groups_from in ("roles", "both"):
        used += [ol.ROLES, ol.ROLE, ol.ROLE_USERS]
    return [e.resolve(base or base_url(settings), partial=True) for e in used]


class OneLoginSource(Source):
    """Reads one OneLogin account (see the module docstring for calls and limits)."""

    type = "onelogin"

    def __init__(
        self, settings: OneLoginSourceSettings, http: HttpClient, connector: str = "CONNECTOR"
    ) -> None:
        super().__init__()
        self.settings = settings
        self.http = http
        self.stats = http.stats
        self.token_target = http.target(ol.TOKEN)
        self.credentials = OneLoginCredentials(
            http, self.token_target, settings.client_id, settings.client_secret, connector
        )
        http.auth = self.credentials
        self.budget = ol.CallBudget(settings.min_remaining_calls)
        self.activity = ol.Activity(
            frozenset(settings.active_statuses), frozenset(settings.active_states)
        )
        self.read_started: datetime | None = None
        """When the last read began: the server's ``Date`` of its first answer, else the clock."""

    @property
    def wants_groups(self) -> bool:
        """Whether OneLogin groups become directory groups."""
        return self.settings.groups_from in ("groups", "both")

    @property
    def wants_roles(self) -> bool:
        """Whether roles become directory groups."""
        return self.settings.groups_from in ("roles", "both")

    # ---- requests ------------------------------------------------------------------------

    async def _get(
        self,
        endpoint: Endpoint,
        values: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        accept: tuple[int, ...] = (),
    ) -> httpx.Response:
        """One call, refused up front when the budget is at its floor; 429 stops the read."""
        if self.budget.low:
            raise BudgetStop(self.budget.message(endpoint.label))
        self.budget.in_flight += 1
        try:
            response = await self.http.request(
                endpoint, values, params=params, accept=(429, *accept)
            )
        finally:
            self.budget.in_flight -= 1
        self.budget.observe_headers(response.headers)
        if self.read_started is None:
            self.read_started = od.server_time(response.headers.get("date"))
        if response.status_code == 429:
            self.stats.throttled += 1
            self.budget.remaining = 0
            raise BudgetStop(self.budget.message(endpoint.label) + " (OneLogin answered 429)")
        return response

    async def _preflight(self) -> None:
        """``GET /auth/rate_limit``: learn the budget before the first listing.

        If the endpoint cannot be read (other than for the budget), the read goes on: every
        API answer's ``X-RateLimit-*`` headers keep the budget known from the first page on.
        """
        try:
            response = await self._get(ol.RATE_LIMIT)
            data = json_body(response, ol.RATE_LIMIT).get("data") or {}
        except (HttpError, ValueError, AttributeError) as exc:
            log.warning("could not read the API budget first (%s); reading on", exc)
            self.stats.extra["rate_limit_preflight"] = "failed"
            return
        if isinstance(data, dict):
            self.budget.observe(
                data.get("X-RateLimit-Limit"),
                data.get("X-RateLimit-Remaining"),
                data.get("X-RateLimit-Reset"),
                None,
            )
        if self.budget.low:
            raise BudgetStop(self.budget.message("the first listing"))

    async def _list(
        self,
        endpoint: Endpoint,
        params: dict[str, Any],
        *,
        v1: bool,
        progress: Progress,
        values: Mapping[str, str] | None = None,
        answered: asyncio.Event | None = None,
    ) -> list[dict[str, Any]]:
        """Every record of a listing, page by page (v1 body cursor or v2 header cursor).

        ``answered`` is set as soon as the first page has come back.
        """
        paging: ol.HeaderCursor = ol.BodyCursor() if v1 else ol.HeaderCursor()
        cursor_key = "after_cursor" if v1 else "cursor"
        items: list[dict[str, Any]] = []
        query = dict(params)
        while True:
            response = await self._get(endpoint, values, query)
            if answered is not None:
                answered.set()
            items.extend(ol.page_items(ol.parse_json(response), v1=v1))
            total = response.headers.get("total-count")
            progress(Event("fetch", f"{endpoint.name}: {len(items)}", len(items), _int(total)))
            cursor = paging.next(response)
            if cursor is None:
                return items
            query = {**params, cursor_key: cursor}

    # ---- full and incremental reads ------------------------------------------------------

    async def snapshot(self, progress: Progress = no_progress) -> Snapshot:
        """Every user, group and/or role and their memberships (see module docstring).

        A complete read sets :attr:`saved_state` for the next incremental run.
        """
        clock = datetime.now(UTC)
        snap = await self._read({}, progress)
        if snap.complete:
            self.saved_state = od.new_state(self.read_started or clock, clock.isoformat())
        return snap

    def wants_full(self, state: dict[str, Any]) -> bool:
        """A full read without a saved ``since`` or when the last full read is too old."""
        return od.full_is_due(state, self.settings.full_sync_every_hours)

    async def delta(
        self, state: dict[str, Any], staged: Snapshot, progress: Progress = no_progress
    ) -> DeltaResult | None:
        """Users updated since the saved state, all groups and roles (``None``: no state).

        Deleted users are not seen (OneLogin lists no deletions); the full read settles them.
        """
        since = od.saved_since(state)
        if since is None:
            return None
        clock = datetime.now(UTC)
        snap = await self._read({"updated_since": od.stamp(since)}, progress)
        for bad in snap.skipped:  # a delta cannot hold a record back: read it again next time
            snap.mark_incomplete(bad.reason)
        full_at = str(state.get("full_at") or clock.isoformat())
        return od.build_delta(staged, snap, od.new_state(self.read_started or clock, full_at))

    async def snapshot_since(self, since: datetime, progress: Progress = no_progress) -> Snapshot:
        """Users changed since ``since`` (``updated_since``), with all groups and roles.

        The snapshot is always marked incomplete: OneLogin lists no deletions, so an
        incremental read may add and update but must never remove anybody. Leavers and
        memberships a user lost are settled by the next full read.
        """
        stamp = od.stamp(since)
        snap = await self._read({"updated_since": stamp}, progress)
        snap.mark_limited(
            f"incremental read: only users updated since {stamp}; OneLogin lists no "
            "deletions, so leavers and lost memberships wait for the next full sync"
        )
        return snap

    async def _read(self, user_filter: dict[str, str], progress: Progress) -> Snapshot:
        snap = Snapshot()
        got: dict[str, list[Any]] = {}  # each listing read to its end (kept at a budget stop)
        role_members: list[Membership] | None = None
        self.read_started = None
        try:
            await self._preflight()
            params = {"limit": ol.PAGE_SIZE, "fields": ol.USER_FIELDS, **user_filter}
            if self.http.budget.concurrency >= 2:
                await self._side_by_side(snap, got, params, progress)
            else:
                await self._groups_and_roles(snap, got, progress)
                got["users"] = await self._listing(
                    snap, ol.USERS, params, False, progress, ol.checked_user
                )
            role_members = await self._role_members(
                snap, got.get("users", []), got.get("roles", []), progress
            )
        except BudgetStop as stop:
            log.warning("%s", stop)
            snap.mark_incomplete(str(stop))
            role_members = None
        users, groups, roles = (got.get(k, []) for k in ("users", "groups", "roles"))
        self._assemble(snap, users, groups, roles, role_members)
        return snap

    async def _groups_and_roles(
        self, snap: Snapshot, got: dict[str, list[Any]], progress: Progress
    ) -> None:
        """The groups and/or roles listings, one after the other."""
        if self.wants_groups:
            got["groups"] = await self._listing(snap, ol.GROUPS, {}, True, progress, ol.to_group)
        if self.wants_roles:
            got["roles"] = await self._listing(
                snap, ol.ROLES, {"limit": ol.PAGE_SIZE}, False, progress, self._role
            )

    async def _side_by_side(
        self,
        snap: Snapshot,
        got: dict[str, list[Any]],
        params: dict[str, Any],
        progress: Progress,
    ) -> None:
        """The users chain with the groups and/or roles listings alongside (concurrency ≥ 2).

        The groups/roles branch starts once the first users page has answered, so a listing
        permission the API refuses costs one request, not one per branch. A budget stop in either
        branch lets the other one run into the same floor at its next call (no request is cut off
        mid-flight) and is then raised. Reasons are merged in the sequential order: groups,
        roles, then users.
        """
        side, main = Snapshot(), Snapshot()
        answered = asyncio.Event()
        stops: list[BudgetStop] = []

        async def users() -> None:
            try:
                got["users"] = await self._listing(
                    main, ol.USERS, params, False, progress, ol.checked_user, answered=answered
                )
            except BudgetStop as stop:
                stops.append(stop)
            answered.set()  # also after a failed (not fatal) first page: the others go on

        async def groups_and_roles() -> None:
            await answered.wait()
            try:
                await self._groups_and_roles(side, got, progress)
            except BudgetStop as stop:
                stops.append(stop)

        await gather(users(), groups_and_roles())
        for part in (side, main):
            snap.complete = snap.complete and part.complete
            snap.incomplete_reasons += part.incomplete_reasons
            snap.skipped += part.skipped
        if stops:
            raise stops[0]

    def _role(self, item: Mapping[str, Any]) -> SourceGroup:
        return ol.to_role(item, self.settings.role_prefix)

    async def _listing(
        self,
        snap: Snapshot,
        endpoint: Endpoint,
        params: dict[str, Any],
        v1: bool,
        progress: Progress,
        convert: Any,
        values: Mapping[str, str] | None = None,
        answered: asyncio.Event | None = None,
    ) -> list[Any]:
        """A whole listing converted; on a failure nothing of it, and an incomplete mark."""
        try:
            items = await self._list(
                endpoint, params, v1=v1, progress=progress, values=values, answered=answered
            )
            kind = "group" if endpoint in (ol.GROUPS, ol.ROLES) else "user"
            return records(snap, endpoint.label, kind, items, convert)
        except BudgetStop:
            raise
        except HttpError as exc:
            if exc.kind == "config":
                raise
            snap.mark_incomplete(f"could not read {endpoint.label} to the end: {exc}")
            return []
        except SourceError as exc:
            snap.mark_incomplete(f"could not read {endpoint.label} to the end: {exc}")
            return []

    async def _role_members(
        self,
        snap: Snapshot,
        users: list[dict[str, Any]],
        roles: list[SourceGroup],
        progress: Progress,
    ) -> list[Membership] | None:
        """Role edges from ``/api/2/roles/{id}/users`` when user records lack ``role_ids``."""
        if not self.wants_roles or not users or all("role_ids" in u for u in users):
            return None
        edges: list[Membership] = []
        for role in roles:
            raw = role.source_id.removeprefix("role:")
            members = await self._listing(
                snap, ol.ROLE_USERS, {"limit": ol.PAGE_SIZE}, False, progress,
                lambda item: str(item["id"]), values={"id": raw},
            )  # fmt: skip
            edges.extend(Membership(role.source_id, member) for member in members)
        return edges

    def _assemble(
        self,
        snap: Snapshot,
        items: list[dict[str, Any]],
        groups: list[SourceGroup],
        roles: list[SourceGroup],
        role_members: list[Membership] | None,
    ) -> None:
        """Users and the membership edges their records carry (only to groups read)."""
        known = {g.source_id for g in groups} | {r.source_id for r in roles}
        snap.groups.extend(groups)
        snap.groups.extend(roles)
        users: list[SourceUser] = []
        for item in items:
            made = records(snap, ol.USERS.label, "user", [item], self._user)
            if not made:
                continue
            users += made
            snap.memberships.extend(
                e for e in self._edges(item, role_members is None) if e.group_id in known
            )
        snap.users.extend(users)
        if role_members:
            read = {u.source_id for u in users}
            snap.memberships.extend(e for e in role_members if e.member_id in read)

    def _edges(self, item: Mapping[str, Any], roles_from_user: bool) -> list[Membership]:
        user = str(item["id"])
        edges = []
        if self.wants_groups and item.get("group_id"):
            edges.append(Membership(ol.group_id(item["group_id"]), user))
        if self.wants_roles and roles_from_user:
            edges.extend(Membership(ol.role_id(r), user) for r in item.get("role_ids") or ())
        return edges

    def _user(self, item: dict[str, Any]) -> SourceUser:
        return ol.to_user(item, self.activity)

    # ---- single user ---------------------------------------------------------------------

    async def fetch_user(self, key: str) -> Snapshot | None:
        """One user by id, username or e-mail, with their group and roles (see docstring)."""
        item = await self._find_user(key.strip())
        if item is None:
            return None
        if not isinstance(item, dict) or not isinstance(item.get("role_ids") or [], list):
            raise SourceError(f"{ol.USERS.label}: the answer for {key!r} is not a usable user")
        snap = Snapshot()
        groups: list[SourceGroup] = []
        roles: list[SourceGroup] = []
        try:
            if self.wants_groups and item.get("group_id"):
                groups = await self._one(snap, ol.GROUP, item["group_id"], v1=True)
            if self.wants_roles:
                for raw in item.get("role_ids") or ():
                    roles += await self._one(snap, ol.ROLE, raw, v1=False)
        except BudgetStop as stop:
            snap.mark_incomplete(str(stop))
        self._assemble(snap, [item], groups, roles, None)
        return snap

    async def _find_user(self, key: str) -> Any:
        if key.isdigit():
            response = await self._get(ol.USER, {"id": key}, accept=(404,))
            return None if response.status_code == 404 else ol.parse_json(response)
        for attribute in ("username", "email") if "@" not in key else ("email", "username"):
            params = {attribute: key, "limit": ol.PAGE_SIZE, "fields": ol.USER_FIELDS}
            body = ol.parse_json(await self._get(ol.USERS, params=params))
            for item in ol.page_items(body, v1=False):
                if not isinstance(item, dict):
                    continue
                if str(item.get(attribute, "")).casefold() == key.casefold():
                    return item
        return None

    async def _one(
        self, snap: Snapshot, endpoint: Endpoint, raw: object, *, v1: bool
    ) -> list[SourceGroup]:
        response = await self._get(endpoint, {"id": str(raw)}, accept=(404,))
        if response.status_code == 404:
            snap.mark_incomplete(f"{endpoint.label}: {raw} was not found")
            return []
        body = ol.parse_json(response)
        items = ol.page_items(body, v1=True) if v1 else [body]
        return records(snap, endpoint.label, "group", items, ol.to_group if v1 else self._role)

    # ---- endpoints, probes ---------------------------------------------------------------

    def endpoints(self) -> list[ConcreteEndpoint]:
        """The calls this configuration makes (``idpsync endpoints``)."""
        return endpoint_table(self.settings, self.http.base_url)

    def probes(self) -> list[Probe]:
        """Token, then one minimal read per endpoint this configuration uses."""
        reads = table_reads(self.http, self.endpoints(), READS)
        return [token_probe(self.credentials, ol.TOKEN), *reads]

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isascii() and value.isdigit() else None
