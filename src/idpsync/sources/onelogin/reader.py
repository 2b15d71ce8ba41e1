"""The ``onelogin`` source: users, groups and roles from OneLogin's API in the fewest calls.

Reads, with one access token (``POST /auth/oauth2/v2/token``, valid 10 h):

1. ``GET /auth/rate_limit`` — the account's remaining hourly calls (budget preflight);
2. ``GET /api/1/groups`` — when ``groups_from`` is ``groups`` or ``both`` (50 per page);
3. ``GET /api/2/roles?limit=50`` — when ``groups_from`` is ``roles`` or ``both``;
4. ``GET /api/2/users?limit=50&fields=…`` — every user, each carrying its one ``group_id`` and
   its ``role_ids``, so memberships cost **no** extra call (never one call per user).

With the HTTP client's ``concurrency`` at 1 these run in this order, each v2 listing as its
``After-Cursor`` chain. From 2 on, the users listing starts right after the preflight and, once
its first page has answered, the groups and roles listings run alongside it (and each
other), while the users' pages 2…P are asked for by number, ``concurrency`` at a time
(``parallel_pages``, :mod:`~idpsync.sources.onelogin.paged`, which also proves the pages hold the
whole listing). The request count is the same either way.

Request formula of a full snapshot, with P(n) = max(1, ceil(n / 50)) pages, U users, G groups
and R roles (``g`` = 1 when groups are read, ``r`` = 1 when roles are read, else 0)::

    requests = 1 (token) + 1 (rate limit) + g·P(G) + r·P(R) + P(U)

If the users' records lack ``role_ids`` (older API answers), roles' members are listed per
role instead: + Σ_roles P(members) — still never one call per user. An incremental read
(:meth:`OneLoginSource.delta`, see :mod:`~idpsync.sources.onelogin.delta`) replaces P(U)
with P(changed users), and with ``incremental_groups = "named"`` g·P(G) with one call per
group the changed users name that the directory lacks (:mod:`~.named`). A single-user
fetch costs 1 (token) + 1 (user; +1 when looked up by name and the first filter misses) + 1
if the user is in a group + one per role.

The account allows 5,000 calls an hour for **all** its integrations. Before and during a read
the source watches ``X-RateLimit-Remaining``; at or below ``min_remaining_calls`` (or on a 429)
it stops, marks the snapshot incomplete with the reset time, and so removes nobody. Calls still
in flight count as spent, and a late answer never raises the remaining count, so two listings
side by side stop at the same floor. Which listing is cut may differ from the one-at-a-time order.
The budget is kept by :class:`~idpsync.sources.onelogin.budget.CallPacer`, which every request
of a read goes through; the calls and their paging are declared in
:mod:`~idpsync.sources.onelogin.endpoints`.
A full read may stream its edges as the users pages come (:class:`~.memberships.PagedEdges`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from idpsync.auth import OneLoginCredentials
from idpsync.check_reads import table_reads
from idpsync.diagnostics import token_probe
from idpsync.errors import SourceError
from idpsync.http import ConcreteEndpoint, Endpoint, HttpClient
from idpsync.http.failure import FailureRule
from idpsync.http.paging import HeaderCursor
from idpsync.model import MemberKind, Membership, Snapshot, SourceGroup, SourceUser
from idpsync.sources.base import DeltaResult, Event, Probe, Progress, Source, no_progress
from idpsync.sources.lanes import gather
from idpsync.sources.onelogin import delta as od
from idpsync.sources.onelogin.budget import BudgetStop, CallPacer, preflight
from idpsync.sources.onelogin.endpoints import (
    GROUPS,
    PAGE_SIZE,
    READS,
    ROLE_USERS,
    ROLES,
    TOKEN,
    USER_FIELDS,
    USERS,
    endpoint_table,
)
from idpsync.sources.onelogin.memberships import PagedEdges, assemble
from idpsync.sources.onelogin.named import GROUP_PREFIX, named_groups
from idpsync.sources.onelogin.paged import Doubt, Listing, read_listing, why_unread
from idpsync.sources.onelogin.records import Activity, checked_user, to_group, to_role, to_user
from idpsync.sources.onelogin.settings import OneLoginSourceSettings
from idpsync.sources.onelogin.single import fetch_one
from idpsync.sources.shape import records

if TYPE_CHECKING:
    from idpsync.sources.registry import SourceContext

log = logging.getLogger("idpsync.sources.onelogin.reader")

RULE = FailureRule(never_fatal=())
"""What ends a read: an error every later call would share (credentials, permission, network
configuration), a 404 included (most likely a wrong ``base_url``). Anything else only makes the
listing incomplete; a budget stop always ends the read, with nothing removed."""

Got = dict[str, list[Any]]
"""The listings read to their end, by name (``users``, ``groups``, ``roles``)."""


class OneLoginSource(Source):
    """Reads one OneLogin account (see the module docstring for calls and limits).

    ``http`` is the client :func:`idpsync.sources.onelogin.http_client` builds: with the
    OneLogin token flow as its auth and a :class:`~.budget.CallPacer` as its pacer.
    """

    type = "onelogin"
    streams_edges = True

    def __init__(
        self,
        settings: OneLoginSourceSettings,
        http: HttpClient,
        *,
        context: SourceContext | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(http.pacer, CallPacer) or not isinstance(http.auth, OneLoginCredentials):
            raise TypeError("build the client with idpsync.sources.onelogin.http_client")
        self.settings = settings
        self.http = http
        self.context = context
        self.stats = http.stats
        self.pacer: CallPacer = http.pacer
        self.credentials: OneLoginCredentials = http.auth
        self.budget = self.pacer.budget
        self.activity = Activity(
            frozenset(settings.active_statuses), frozenset(settings.active_states)
        )
        self.paged: PagedEdges | None = None
        """The users listing's pages in a streamed full read (made by :meth:`_read`)."""

    @property
    def wants_groups(self) -> bool:
        """Whether OneLogin groups become directory groups."""
        return self.settings.groups_from in ("groups", "both")

    @property
    def wants_roles(self) -> bool:
        """Whether roles become directory groups."""
        return self.settings.groups_from in ("roles", "both")

    # ---- full and incremental reads ------------------------------------------------------

    async def snapshot(self, progress: Progress = no_progress) -> Snapshot:
        """Every user, group and/or role and their memberships (see module docstring).

        A complete read sets :attr:`saved_state` for the next incremental run.
        """
        clock = datetime.now(UTC)
        snap = await self._read({}, progress)
        if snap.complete:
            started = self.pacer.first_answer or clock
            self.saved_state = od.new_state(started, clock.isoformat())
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
        named: frozenset[str] | None = None  # the staged groups a "named" read keeps
        if self.wants_groups and self.settings.incremental_groups == "named":
            named = frozenset(g for g in staged.group_ids() if g.startswith(GROUP_PREFIX))
        snap = await self._read({"updated_since": od.stamp(since)}, progress, named)
        for bad in snap.skipped:  # a delta cannot hold a record back: read it again next time
            snap.mark_incomplete(bad.reason)
        full_at = str(state.get("full_at") or clock.isoformat())
        started = self.pacer.first_answer or clock
        keep = GROUP_PREFIX if named is not None else None
        return od.build_delta(staged, snap, od.new_state(started, full_at), keep=keep)

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

    async def _read(
        self, user_filter: dict[str, str], progress: Progress, named: frozenset[str] | None = None
    ) -> Snapshot:
        """Read the listings; ``named``: list no groups, read those users name and it lacks."""
        snap = Snapshot()
        listed = named is None
        got: Got = {}  # each listing read to its end (kept at a budget stop)
        role_members: list[Membership] | None = None
        groups_from, sink = self.settings.groups_from, self.sink
        pages = None  # a streamed read's users pages, their users made as the pages come
        if sink is not None:
            pages = PagedEdges(sink, checked_user, groups_from=groups_from, user=self._user)
        self.paged = pages
        with self.pacer.watch():
            try:
                await preflight(self.http, self.pacer)
                params = {"limit": PAGE_SIZE, "fields": USER_FIELDS, **user_filter}
                if self.http.budget.concurrency >= 2:
                    await self._side_by_side(snap, got, params, progress, listed)
                else:
                    await self._groups_and_roles(snap, got, progress, listed)
                    got["users"] = await self._listing(snap, USERS, params, progress, checked_user)
                if named is not None and self.wants_groups:
                    got["groups"] = await named_groups(
                        self.http, snap, got.get("users", []), named, RULE.fatal
                    )
                role_members = await self._role_members(
                    snap, got.get("users", []), got.get("roles", []), progress
                )
            except BudgetStop as stop:
                log.warning("%s", stop)
                snap.mark_incomplete(str(stop))
                role_members = None
        users, groups, roles = (got.get(k, []) for k in ("users", "groups", "roles"))
        assemble(
            snap, users, (groups, roles), role_members, user=self._user, groups_from=groups_from,
            staged=named or frozenset(), sink=sink, pages=pages,
        )  # fmt: skip
        self.paged = None  # its records and users are not held past the read
        return snap

    async def _groups_and_roles(
        self, snap: Snapshot, got: Got, progress: Progress, groups: bool = True
    ) -> None:
        """The groups (when ``groups``) and/or roles listings, side by side from concurrency 2.

        A budget stop in one lets the other reach the same floor, then is raised.
        """
        calls: list[tuple[str, Endpoint, dict[str, Any], Any]] = []
        if groups and self.wants_groups:
            calls.append(("groups", GROUPS, {}, to_group))
        if self.wants_roles:
            calls.append(("roles", ROLES, {"limit": PAGE_SIZE}, self._role))
        stops: list[BudgetStop] = []

        async def one(name: str, endpoint: Endpoint, params: dict[str, Any], convert: Any) -> None:
            try:
                got[name] = await self._listing(snap, endpoint, params, progress, convert)
            except BudgetStop as stop:
                stops.append(stop)

        if self.http.budget.concurrency >= 2 and len(calls) == 2:
            await gather(*(one(*call) for call in calls))
        else:
            for call in calls:
                if stops:
                    break
                await one(*call)
        if stops:
            raise stops[0]

    async def _side_by_side(
        self, snap: Snapshot, got: Got, params: dict[str, Any], progress: Progress, groups: bool
    ) -> None:
        """The users chain with the groups and/or roles listings alongside (concurrency ≥ 2).

        The groups/roles branch starts once the first users page has answered, so a listing
        permission the API refuses costs one request, not one per branch. The users' pages by
        number leave a slot to the groups' chain (its pages would wait behind theirs). A budget
        stop in either branch lets the other one run into the same floor at its next call (no
        request is cut off mid-flight) and is then raised. Reasons are merged in the sequential
        order: groups, roles, then users.
        """
        side, main = Snapshot(), Snapshot()
        answered = asyncio.Event()
        stops: list[BudgetStop] = []
        chain = 1 if groups and self.wants_groups else 0  # a slot kept for the groups' chain

        async def users() -> None:
            try:
                got["users"] = await self._listing(
                    main, USERS, params, progress, checked_user, answered=answered, keep=chain
                )
            except BudgetStop as stop:
                stops.append(stop)
            answered.set()  # also after a failed (not fatal) first page: the others go on

        async def groups_and_roles() -> None:
            await answered.wait()
            try:
                await self._groups_and_roles(side, got, progress, groups)
            except BudgetStop as stop:
                stops.append(stop)

        await gather(users(), groups_and_roles())
        for part in (side, main):
            snap.complete = snap.complete and part.complete
            snap.incomplete_reasons += part.incomplete_reasons
            snap.skipped += part.skipped
        if stops:
            raise stops[0]

    async def _listing(
        self,
        snap: Snapshot,
        endpoint: Endpoint,
        params: dict[str, Any],
        progress: Progress,
        convert: Any,
        values: Mapping[str, str] | None = None,
        answered: asyncio.Event | None = None,
        keep: int = 0,
    ) -> list[Any]:
        """A whole listing converted; on a failure nothing of it, and an incomplete mark.

        :data:`RULE` decides which failures end the read instead; a budget stop always does.
        ``keep``: slots its pages by number leave to a chain read alongside (:func:`_workers`).
        """

        def seen(read: int, total: int | None) -> None:
            if answered is not None:
                answered.set()
            progress(Event("fetch", f"{endpoint.name}: {read}", read, total))

        by_number = self.settings.parallel_pages and endpoint.paging is HeaderCursor
        pages = self.paged if endpoint is USERS else None
        quiet = "updated_at" if "updated_since" in params else "created_at"
        job = Listing(
            self.http, self.pacer, endpoint, dict(params), values,
            workers=_workers(self.http.budget.concurrency, keep) if by_number else 1,
            quiet_field=quiet if endpoint is USERS else None, seen=seen,
            pages=pages,
        )  # fmt: skip
        try:
            items = await read_listing(job)
            kind = "group" if endpoint in (GROUPS, ROLES) else "user"
            return records(snap, endpoint.label, kind, items, convert)
        except BudgetStop:
            raise
        except Doubt as doubt:
            snap.mark_incomplete(
                f"could not prove {endpoint.label} read whole: {doubt}; read again next time"
            )
            return []
        except SourceError as exc:
            if RULE.fatal(exc):
                raise
            snap.mark_incomplete(f"could not read {endpoint.label} to the end: {why_unread(exc)}")
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
                snap, ROLE_USERS, {"limit": PAGE_SIZE}, progress,
                lambda item: str(item["id"]), values={"id": raw},
            )  # fmt: skip
            edges.extend(snap.edge(role.source_id, member, MemberKind.USER) for member in members)
        return edges

    def _role(self, item: Mapping[str, Any]) -> SourceGroup:
        return to_role(item, self.settings.role_prefix)

    def _user(self, item: dict[str, Any]) -> SourceUser:
        return to_user(item, self.activity)

    # ---- single user ---------------------------------------------------------------------

    async def fetch_user(self, key: str) -> Snapshot | None:
        """One user by id, username or e-mail, with their group and roles (see docstring)."""
        snap = Snapshot()
        with self.pacer.watch():
            found = await fetch_one(
                self.http, snap, key, groups=self.wants_groups,
                role=self._role if self.wants_roles else None,
            )  # fmt: skip
        if found is None:
            return None
        item, read = found
        assemble(snap, [item], read, None, user=self._user, groups_from=self.settings.groups_from)
        return snap

    # ---- endpoints, probes ---------------------------------------------------------------

    def endpoints(self) -> list[ConcreteEndpoint]:
        """The calls this configuration makes (``idpsync endpoints``)."""
        return endpoint_table(self.settings, self.http.base_url)

    def probes(self) -> list[Probe]:
        """Token, then one minimal read per endpoint this configuration uses."""
        reads = table_reads(self.http, self.endpoints(), READS)
        return [token_probe(self.credentials, TOKEN), *reads]

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()


def _workers(concurrency: int, keep: int) -> int:
    """Pages by number at once: ``keep`` slots left to a chain if 2 or more remain (not 1)."""
    return concurrency - keep if concurrency - keep >= 2 else concurrency


__all__ = ["RULE", "OneLoginSource", "endpoint_table"]
