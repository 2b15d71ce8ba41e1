"""The ``okta`` source: users, groups and memberships from an Okta org's Management API.

Authentication: an API token (``Authorization: SSWS …``) or an OAuth service app
(``client_credentials`` with a ``private_key_jwt`` assertion at ``{org}/oauth2/v1/token``,
scopes ``okta.users.read okta.groups.read``).

A full snapshot reads every user that is not ``DEPROVISIONED`` (``GET /api/v1/users?limit=200``),
the ``DEPROVISIONED`` users (``filter=status eq "DEPROVISIONED"``, so cleanup sees them as
inactive), every group (``GET /api/v1/groups?limit=10000``) and the members of each group of a
configured type (``GET /api/v1/groups/{id}/users?limit=1000``). It never asks each user for its
groups. Once a complete full read has saved ``lastUpdated`` bounds, the two user listings are
replaced by ``lastUpdated`` ranges read side by side and a top range read last, which provably
cover everyone (:mod:`~idpsync.sources.okta.partitions`; ``Σ_i p(U_i, 200) + p(U_top, 200)``
replaces the first two terms of the count below).

Three branches run side by side once the first users page has answered (that first answer
proves the credentials, so a bad token still costs one request and its retry, and it fixes
:attr:`OktaSource.started`): the users chain, the deprovisioned chain, and groups followed by
the member listings. The chains follow ``next`` links, one request in flight each; the member
listings use the rest of the HTTP client's ``concurrency`` (:data:`DEFAULT_CONCURRENCY`
by default): ``concurrency − 2`` workers and one more once the deprovisioned chain has ended,
or ``− 1`` without that chain, at least one. Leaving a slot to each chain matters: the pacer's
wait for a bucket's next window happens inside a request slot, so member workers waiting on the
``/api/v1/groups/{id}`` bucket must not hold the slot the users chain needs (that chain counts
against ``/api/v1/users``, a separate bucket with its own pacing state). The wall time is the
longer of the users chain (``p(U_a, 200)`` round trips) and the member listings (bounded by
their bucket).

**Request count** of a full snapshot, with ``p(n, k) = max(1, ⌈n / k⌉)`` pages per listing::

    R = p(U_a, 200) + p(U_d, 200) + p(G, groups_page_size) + Σ_g p(m_g, 1000) + T

``U_a`` users not deprovisioned, ``U_d`` deprovisioned users (term dropped when
``include_deprovisioned = false``), ``G`` groups, ``m_g`` members of each group read (types in
``group_types``), ``T`` = 1 token request in OAuth mode and 0 with an API token. (Okta sends no
``next`` link after the last page.) Retries and 429s come on top; pacing makes the latter zero.

Incremental reads (:meth:`OktaSource.delta`, :mod:`~idpsync.sources.okta.incremental`, run by
``idpsync sync --incremental`` or an automatic run between full reconciles) cost
``p(C, 200) + p(G, groups_page_size) + Σ_{changed g} p(m_g, 1000) + T`` with
``incremental = "timestamps"``; the default ``"system_log"`` reads membership changes from the
System Log and re-lists only the groups it does not explain (see
:mod:`~idpsync.sources.okta.syslog`).

A single-user fetch costs 2 requests (+T): ``GET /api/v1/users/{id|login}`` and
``GET /api/v1/users/{id}/groups``.

Pacing: :class:`~idpsync.sources.okta.pacing.OktaPacer` reads ``X-Rate-Limit-*`` of every
answer per bucket and waits for the next window rather than using the last ``reserve`` share.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from idpsync.check_reads import table_reads
from idpsync.errors import SourceError
from idpsync.http import errors as e
from idpsync.http.ahead import pages_ahead
from idpsync.http.body import json_body
from idpsync.http.failure import FailureRule
from idpsync.model import EdgeList, Membership, Snapshot
from idpsync.sources.base import (
    DeltaResult,
    Event,
    Probe,
    Progress,
    Source,
    no_progress,
)
from idpsync.sources.clean import clean_users
from idpsync.sources.lanes import gather
from idpsync.sources.okta import delta as okta_delta
from idpsync.sources.okta import incremental, syslog
from idpsync.sources.okta.ahead import UsersAhead
from idpsync.sources.okta.endpoints import (
    DEPROVISIONED,
    ENDPOINTS,
    GROUP_USERS,
    GROUPS,
    MEMBERS_PAGE,
    READS,
    TOKEN,
    USER,
    USER_GROUPS,
    USERS,
    USERS_PAGE,
    bucket_of,
    endpoint_table,
)
from idpsync.sources.okta.partitions import BOUNDS_KEY, bounds_of, fewer, read_ranges, usable
from idpsync.sources.okta.records import (
    checked_groups,
    checked_users,
    login_of,
    name_of,
    to_group,
    to_user,
)
from idpsync.sources.okta.settings import OktaSourceSettings
from idpsync.sources.shape import identified, records

if TYPE_CHECKING:
    from idpsync.http import ConcreteEndpoint, Endpoint, HttpClient
    from idpsync.model import SourceUser
    from idpsync.sources.registry import SourceContext

DEFAULT_CONCURRENCY = 12
"""Requests in flight unless ``http.concurrency`` says otherwise (at the default
``org_concurrency = 15``; ``org_concurrency − 3`` in general): the two user chains and ten
member workers, which keep a 1,000/min bucket at its 800/min share (``reserve`` 0.2) busy at
about 0.7 s a request. It stays below 15, Okta's smallest org-wide concurrent limit (Integrator
Free), leaving 3 to the org's other integrations."""
RULE = FailureRule(never_fatal=(e.NotFound, e.NotFromIdp))
"""Which failures fail the whole run instead of leaving one listing incomplete: refused
credentials or token requests, a missing permission, DNS, TLS and proxy errors (every other
listing would fail the same way). A 404 (a group deleted while it was read) and an answer that
did not come from Okta (an HTML page) only leave that listing incomplete."""


class OktaSource(Source):
    """Reads an Okta org (see module docstring).

    ``http`` is ready to use: the org URL as base URL, the credentials as its ``auth`` and an
    :class:`~idpsync.sources.okta.pacing.OktaPacer` as its ``pacer`` (see
    :func:`idpsync.sources.okta.http_client`).
    """

    type = "okta"
    streams_edges = True

    def __init__(
        self,
        settings: OktaSourceSettings,
        http: HttpClient,
        *,
        context: SourceContext | None = None,
    ) -> None:
        super().__init__()
        self.settings, self.http, self.context = settings, http, context
        self.stats = http.stats
        self.state: dict[str, Any] = {}
        """High-water marks after a complete read (also offered as :attr:`saved_state`, see
        :mod:`idpsync.sources.okta.incremental`)."""
        self.started: str | None = None
        """Server time (``Date`` − 1 s) of the first answer of the current read."""
        self.active = frozenset(settings.active_statuses)
        self.ahead: UsersAhead | None = None
        """During a full read: its users made and cleaned as their pages come."""

    # ---- reading: the pieces a full and an incremental read are made of ----------------------

    async def listing(
        self,
        endpoint: Endpoint,
        params: dict[str, str],
        values: dict[str, str] | None = None,
        answered: asyncio.Event | None = None,
        each: Callable[[list[Any]], object] | None = None,
    ) -> list[Any]:
        """Every record of a listing; raises :class:`SourceError` unless read to the end.

        The first answer of a read fixes :attr:`started`; ``answered`` is set as soon as the
        listing's first page has come back. With ``each``, every page's records go to it as the
        page arrives and none are kept (the list returned is empty). The next page is asked
        for once the ``Link`` header names it (:func:`~idpsync.http.ahead.pages_ahead`).
        """
        items: list[Any] = []
        async with aclosing(pages_ahead(self.http, endpoint, values, params=params)) as pages:
            async for page in pages:
                if page.number == 1:
                    if self.started is None:
                        self.started = incremental.server_time(page.response)
                    if answered is not None:
                        answered.set()
                if each is None:
                    items += page.records
                    if self.ahead is not None and endpoint is USERS:
                        self.ahead.page(page.records)
                else:
                    each(page.records)
        return items

    async def read_listing(
        self,
        snap: Snapshot,
        what: str,
        endpoint: Endpoint,
        params: dict[str, str],
        values: dict[str, str] | None = None,
        answered: asyncio.Event | None = None,
    ) -> list[Any] | None:
        """A listing, or ``None`` after marking ``snap`` incomplete with the reason.

        Failures :data:`RULE` calls fatal propagate: the runner fails the run with their message.
        """
        try:
            return await self.listing(endpoint, params, values, answered)
        except SourceError as exc:
            if RULE.fatal(exc):
                raise
            snap.complete = False
            snap.incomplete_reasons.append(f"{what}: {exc}")
            return None

    async def read_members(
        self,
        snap: Snapshot,
        group_ids: list[str],
        progress: Progress,
        reserved: int = 0,
        freed: asyncio.Event | None = None,
    ) -> None:
        """Read every group's members into ``snap`` with a few workers.

        The pacer keeps them within the bucket's budget. ``reserved`` request slots of the HTTP
        client's ``concurrency`` are left to listings running alongside; once ``freed`` is set
        (a listing alongside has ended), one more worker takes its slot.
        """
        queue: asyncio.Queue[str] = asyncio.Queue()
        for gid in group_ids:
            queue.put_nowait(gid)
        done = 0

        async def worker() -> None:
            nonlocal done
            while not queue.empty():
                gid = queue.get_nowait()
                params = {"limit": str(MEMBERS_PAGE)}
                members = await self.read_listing(
                    snap, f"members of group {gid}", GROUP_USERS, params, {"id": gid}
                )
                members = identified(snap, f"{GROUP_USERS.label} ({gid})", members or [])
                edges = [snap.edge(gid, str(m["id"])) for m in members]
                if self.sink is None:
                    snap.memberships += edges
                else:  # a listing read to its end (or not at all): streamed at once
                    self.sink.edges(edges)
                done += 1
                progress(Event("fetch", "group members", done, len(group_ids)))

        async def spare() -> None:
            if freed is not None:
                await freed.wait()
                await worker()

        count = max(1, min(self.http.budget.concurrency - reserved, len(group_ids)))
        await gather(*(worker() for _ in range(count)), spare())
        snap.memberships.sort()

    def wanted(self, group: dict[str, Any]) -> bool:
        """Whether a group is of a type the settings read (``group_types``)."""
        return group.get("type", "OKTA_GROUP") in self.settings.group_types

    def to_user(self, raw: dict[str, Any]) -> SourceUser:
        """An Okta user object as a :class:`SourceUser` (status mapped by ``active_statuses``)."""
        return to_user(raw, self.active)

    # ---- full and incremental reads ---------------------------------------------------------

    def wants_full(self, state: dict[str, Any]) -> bool:
        """A full read without marks or when the last one is ``full_reconcile_hours`` old."""
        return incremental.due_for_full(state, self.settings.full_reconcile_hours)

    async def delta(
        self, state: dict[str, Any], staged: Snapshot, progress: Progress = no_progress
    ) -> DeltaResult | None:
        """The changes since the saved marks, on top of the staged mirror (``None``: no marks)."""
        if not state.get("users_since") or not state.get("groups_since"):
            return None
        self.started, self.saved_state = None, None
        self.stats.extra["mode"] = "incremental"
        found, marks = await incremental.read_changes(self, staged, state, progress)
        if marks is not None:
            self.state = marks
        return okta_delta.build_delta(staged, found, self.state if found.snap.complete else state)

    async def snapshot(self, progress: Progress = no_progress) -> Snapshot:
        """A full read (see module docstring); its marks become :attr:`saved_state`."""
        self.started, self.saved_state = None, None
        self.stats.extra["mode"] = "full"
        ahead = self.ahead = UsersAhead(self.active, self.settings.include_deprovisioned)
        try:
            return await self._full(progress, ahead)
        finally:  # this read's own: another read of this source may have begun since
            ahead.clear()
            if self.ahead is ahead:
                self.ahead = None

    async def _full(self, progress: Progress, ahead: UsersAhead) -> Snapshot:
        """Users, deprovisioned users and groups → members side by side (see docstring).

        The users are made and cleaned as their pages come (``ahead``), not after the read.
        """
        snap = Snapshot()
        # Each branch's reasons (and the members) in its own snapshot, merged in a fixed order.
        parts = {"users": Snapshot(), "deprovisioned": Snapshot(), "groups": Snapshot()}
        answered = asyncio.Event()  # set by the first users page; the other branches wait for it
        bounds = self.user_bounds()
        chains = len(bounds) or (2 if self.settings.include_deprovisioned else 1)
        freed = asyncio.Event() if self.settings.include_deprovisioned and not bounds else None
        progress(Event("fetch", "reading Okta users, then groups and their members alongside"))

        async def users() -> list[dict[str, Any]]:
            if bounds:
                read = await read_ranges(self, parts["users"], bounds, answered)
            else:
                params = {"limit": str(USERS_PAGE)}
                read = await self.read_listing(
                    parts["users"], "users", USERS, params, None, answered
                )
            answered.set()  # also after a failed (not fatal) first page: the others go on
            progress(Event("fetch", f"{len(read or ())} users read"))
            return checked_users(parts["users"], read, ahead.checked)

        async def deprovisioned() -> list[dict[str, Any]]:
            if not self.settings.include_deprovisioned or bounds:  # ranges hold them
                return []
            await answered.wait()
            params = {"limit": str(USERS_PAGE), "filter": DEPROVISIONED}
            part = parts["deprovisioned"]
            try:
                read = await self.read_listing(part, "deprovisioned users", USERS, params)
            finally:  # its slot goes to one more member worker
                if freed is not None:
                    freed.set()
            return checked_users(part, read, ahead.checked)

        async def groups() -> list[dict[str, Any]]:
            await answered.wait()
            params = {"limit": str(self.settings.groups_page_size)}
            part = parts["groups"]
            listed = checked_groups(part, await self.read_listing(part, "groups", GROUPS, params))
            wanted = [g for g in listed if self.wanted(g)]
            await self.read_members(part, [str(g["id"]) for g in wanted], progress, chains, freed)
            return wanted

        active, gone, wanted = await gather(users(), deprovisioned(), groups())
        raw_users = active + gone
        made = ahead.converter(self.to_user)
        found = records(snap, USERS.label, "user", raw_users, made, login_of)
        snap.users = list({u.source_id: u for u in found}.values())
        snap.groups = records(snap, GROUPS.label, "group", wanted, to_group, name_of)
        snap.memberships = parts["groups"].memberships
        for part in parts.values():
            snap.complete = snap.complete and part.complete
            snap.incomplete_reasons += part.incomplete_reasons
            snap.skipped += part.skipped
        clean_users(snap, ahead=ahead.cleaned)  # as normalise would, mostly done already
        if snap.complete:
            first: dict[str, Any] = {"full_at": time.time()}
            first["log_since"] = syslog.log_mark(self.started)
            first[BOUNDS_KEY] = bounds_of(raw_users, self.settings.user_partitions)
            self.state = incremental.marks(raw_users, wanted, first, self.started)
            self.saved_state = self.state
        return snap

    def user_bounds(self) -> list[str]:
        """The saved ``lastUpdated`` bounds of a full read's user ranges (``[]``: one chain)."""
        if self.settings.user_partitions < 2:
            return []
        saved = usable(self.prior_state.get(BOUNDS_KEY))
        return fewer(saved, self.settings.user_partitions)

    async def fetch_user(self, key: str) -> Snapshot | None:
        """One user by id or login, with every group it is a direct member of."""
        response = await self.http.request(USER, {"id": key}, accept=USER.absent)
        if response.status_code in USER.absent:  # no such user (a JSON null is not that)
            return None
        raw = json_body(response, USER)
        snap = Snapshot()
        users = records(snap, USER.label, "user", [raw], self.to_user, login_of)
        if not users:
            raise SourceError(f"{USER.label}: the answer for {key!r} is not a usable user")
        user = users[0]
        groups = await self.http.get_json(USER_GROUPS, {"id": user.source_id})
        if not isinstance(groups, list):
            raise SourceError(f"{USER_GROUPS.label}: the answer is not a list of groups")
        wanted = [g for g in checked_groups(snap, groups) if self.wanted(g)]
        snap.users = [user]
        snap.groups = records(snap, USER_GROUPS.label, "group", wanted, to_group, name_of)
        listed = {g.source_id for g in snap.groups}
        snap.memberships = EdgeList(sorted(Membership(gid, user.source_id) for gid in listed))
        return snap

    # ---- diagnostics ------------------------------------------------------------------------

    def endpoints(self) -> list[ConcreteEndpoint]:
        """The endpoint table with the org URL filled in."""
        return endpoint_table(self.settings)

    def probes(self) -> list[Probe]:
        """Token request (OAuth mode) and one minimal read per endpoint of the table."""
        probes: list[Probe] = []
        if self.settings.api_token is None:
            probes.append(Probe("token", TOKEN.label, self._probe_token))
        return probes + table_reads(self.http, self.endpoints(), READS)

    async def _probe_token(self) -> str:
        assert self.http.auth is not None
        await self.http.auth.authorization()
        return "access token issued"

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()


__all__ = [
    "DEFAULT_CONCURRENCY",
    "ENDPOINTS",
    "RULE",
    "OktaSource",
    "bucket_of",
    "endpoint_table",
]
