"""The ``okta`` source: users, groups and memberships from an Okta org's Management API.

Authentication: an API token (``Authorization: SSWS …``) or an OAuth service app
(``client_credentials`` with a ``private_key_jwt`` assertion at ``{org}/oauth2/v1/token``,
scopes ``okta.users.read okta.groups.read``).

A full snapshot reads every user that is not ``DEPROVISIONED`` (``GET /api/v1/users?limit=200``),
the ``DEPROVISIONED`` users (``filter=status eq "DEPROVISIONED"``, so cleanup sees them as
inactive), every group (``GET /api/v1/groups?limit=10000``) and the members of each group of a
configured type (``GET /api/v1/groups/{id}/users?limit=1000``). It never asks each user for its
groups.

Three branches run side by side once the first users page has answered (that first answer
proves the credentials, so a bad token still costs one request and its retry, and it fixes
:attr:`OktaSource.started`): the users chain, the deprovisioned chain, and groups followed by
the member listings. The chains follow ``next`` links, one request in flight each; the member
listings use the rest of the HTTP client's ``concurrency`` (:data:`DEFAULT_CONCURRENCY`
by default): ``concurrency − 2`` workers, or ``− 1`` without the deprovisioned chain, at least
one. Leaving a slot to each chain matters: the pacer's wait for a bucket's next window happens
inside a request slot, so member workers waiting on the ``/api/v1/groups/{id}`` bucket must not
hold the slot the users chain needs (that chain counts against ``/api/v1/users``, a separate
bucket with its own pacing state). The wall time is the longer of the users chain
(``p(U_a, 200)`` round trips) and the member listings (bounded by their bucket).

**Request count** of a full snapshot, with ``p(n, k) = max(1, ⌈n / k⌉)`` pages per listing::

    R = p(U_a, 200) + p(U_d, 200) + p(G, groups_page_size) + Σ_g p(m_g, 1000) + T

``U_a`` users not deprovisioned, ``U_d`` deprovisioned users (term dropped when
``include_deprovisioned = false``), ``G`` groups, ``m_g`` members of each group read (types in
``group_types``), ``T`` = 1 token request in OAuth mode and 0 with an API token. (Okta sends no
``next`` link after the last page.) Retries and 429s come on top; pacing makes the latter zero.

Incremental reads (:meth:`OktaSource.delta`, :mod:`~idpsync.sources.okta.incremental`, run by
``idpsync sync --incremental`` or an automatic run between full reconciles) cost
``p(C, 200) + p(G, groups_page_size) + Σ_{changed g} p(m_g, 1000) + T``.

A single-user fetch costs 2 requests (+T): ``GET /api/v1/users/{id|login}`` and
``GET /api/v1/users/{id}/groups``.

Pacing: :class:`~idpsync.sources.okta.pacing.OktaPacer` reads ``X-Rate-Limit-*`` of every
answer per bucket and waits for the next window rather than using the last ``reserve`` share.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterable
from typing import Any

import httpx

from idpsync.auth import PrivateKeyJwt, StaticToken
from idpsync.check_reads import Read, table_reads
from idpsync.errors import SourceError
from idpsync.http import ConcreteEndpoint, Endpoint, HttpClient, json_body
from idpsync.http import errors as e
from idpsync.http.errors import NotFound
from idpsync.model import Membership, Snapshot, SourceGroup, SourceUser
from idpsync.sources.base import (
    DeltaResult,
    Event,
    Probe,
    Progress,
    Source,
    delta_between,
    no_progress,
)
from idpsync.sources.lanes import gather
from idpsync.sources.okta import incremental as okta_incremental
from idpsync.sources.okta.pacing import OktaPacer
from idpsync.sources.okta.records import checked_group, checked_user, login_of, name_of
from idpsync.sources.okta.settings import OktaSourceSettings
from idpsync.sources.shape import identified, records

TOKEN = Endpoint(
    "token", "POST", "/oauth2/v1/token", "obtain an access token (OAuth service app)", token=True
)
USERS = Endpoint(
    "list_users",
    "GET",
    "/api/v1/users",
    "list users (and deprovisioned ones by filter)",
    permission="okta.users.read",
)
USER = Endpoint(
    "get_user",
    "GET",
    "/api/v1/users/{id}",
    "read one user by id or login (sync-user)",
    permission="okta.users.read",
)
USER_GROUPS = Endpoint(
    "user_groups",
    "GET",
    "/api/v1/users/{id}/groups",
    "groups of one user (sync-user only)",
    permission="okta.groups.read",
)
GROUPS = Endpoint(
    "list_groups", "GET", "/api/v1/groups", "list groups", permission="okta.groups.read"
)
GROUP_USERS = Endpoint(
    "group_users",
    "GET",
    "/api/v1/groups/{id}/users",
    "members of a group",
    permission="okta.groups.read",
)


def _bucket(response: httpx.Response) -> str:
    remaining = response.headers.get("x-rate-limit-remaining", "?")
    return f"bucket {remaining}/{response.headers.get('x-rate-limit-limit', '?')} left"


READS = {
    USERS.name: Read({"limit": "1"}, gives="user", detail=_bucket),
    USER.name: Read(needs={"id": "user"}),
    USER_GROUPS.name: Read(needs={"id": "user"}),
    GROUPS.name: Read({"limit": "1"}, gives="group"),
    GROUP_USERS.name: Read({"limit": "1"}, needs={"id": "group"}),
}
"""How ``idpsync check`` reads each endpoint."""
ENDPOINTS = (TOKEN, USERS, USER, USER_GROUPS, GROUPS, GROUP_USERS)
BUCKETS = {
    "token": "/oauth2/v1/token",
    "list_users": "/api/v1/users",
    "get_user": "/api/v1/users/{id}",
    "user_groups": "/api/v1/users/{id}",
    "list_groups": "/api/v1/groups",
    "group_users": "/api/v1/groups/{id}",
}
"""Okta's rate-limit bucket of each endpoint (named by the path Okta's table uses)."""
USERS_PAGE, MEMBERS_PAGE = 200, 1000
DEFAULT_CONCURRENCY = 12
"""Requests in flight unless ``http.concurrency`` says otherwise: the two user chains and ten
member workers, which keep a 1,000/min bucket at its 800/min share (``reserve`` 0.2) busy at
about 0.7 s a request. It stays below 15, Okta's smallest org-wide concurrent limit (Integrator
Free), leaving 3 to the org's other integrations."""
DEPROVISIONED = 'status eq "DEPROVISIONED"'
FATAL = (e.Unauthorized, e.Forbidden, e.TokenError, e.DnsError, e.TlsError, e.ProxyError)
"""Errors that fail the whole run (credentials, permissions, reachability) instead of leaving
one listing incomplete: every other listing would fail the same way."""
_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


def bucket_of(target: ConcreteEndpoint) -> str:
    """The rate-limit bucket a request counts against."""
    return BUCKETS.get(target.endpoint.name, "/api/v1")


def next_link(response: httpx.Response) -> str | None:
    """The ``rel="next"`` URL of Okta's ``Link`` headers, if any."""
    for value in response.headers.get_list("link"):
        match = _NEXT.search(value)
        if match:
            return match.group(1)
    return None


class ListingError(SourceError):
    """A listing could not be read to its end."""


def endpoint_table(settings: OktaSourceSettings) -> list[ConcreteEndpoint]:
    """The endpoint table with the org URL filled in (no credentials needed)."""
    table: Iterable[Endpoint] = ENDPOINTS
    if settings.api_token is not None:
        table = [e for e in ENDPOINTS if e is not TOKEN]
    return [e.resolve(settings.base_url.rstrip("/"), partial=True) for e in table]


class OktaSource(Source):
    """Reads an Okta org (see module docstring)."""

    type = "okta"

    def __init__(
        self, http: HttpClient, settings: OktaSourceSettings, pacer: OktaPacer | None = None
    ) -> None:
        super().__init__()
        self.http, self.settings = http, settings
        self.stats = http.stats
        self.pacer = pacer or OktaPacer(bucket_of, settings.reserve, stats=http.stats)
        self.pacer.stats = http.stats
        http.pacer = self.pacer
        self.token_endpoint = http.target(TOKEN)
        self.state: dict[str, Any] = {}
        """High-water marks after a complete read (also offered as :attr:`saved_state`, see
        :mod:`idpsync.sources.okta.incremental`)."""
        self.started: str | None = None
        """Server time (``Date`` − 1 s) of the first answer of the current read."""
        self.active = frozenset(settings.active_statuses)
        if settings.api_token is not None:
            http.auth = StaticToken(settings.api_token, scheme="SSWS")
        else:
            assert settings.client_id and settings.private_key
            http.auth = PrivateKeyJwt(
                http,
                self.token_endpoint,
                settings.client_id,
                settings.private_key,
                " ".join(settings.scopes),
                key_id=settings.key_id,
                connector="okta",
            )

    # ---- reading ----------------------------------------------------------------------------

    async def _listing(
        self,
        endpoint: Endpoint,
        values: dict[str, str] | None,
        params: dict[str, str],
        answered: asyncio.Event | None = None,
    ) -> list[dict[str, Any]]:
        """Every page of a listing; raises :class:`SourceError` unless read to the end.

        ``answered`` is set as soon as the first page has come back.
        """
        response = await self.http.request(endpoint, values, params=params)
        if self.started is None:
            self.started = okta_incremental.server_time(response)
        if answered is not None:
            answered.set()
        items = _page(response, endpoint)
        seen: set[str] = set()
        while (link := next_link(response)) is not None:
            if link in seen:
                raise ListingError(f"{endpoint.label}: Okta repeated the next link {link}")
            seen.add(link)
            response = await self.http.request(endpoint, values, url=link)
            items += _page(response, endpoint)
        return items

    async def _read(
        self,
        snap: Snapshot,
        what: str,
        endpoint: Endpoint,
        params: dict[str, str],
        values: dict[str, str] | None = None,
        answered: asyncio.Event | None = None,
    ) -> list[dict[str, Any]] | None:
        """A listing, or ``None`` after marking the snapshot incomplete with the reason.

        :data:`FATAL` errors propagate: the runner fails the run with their message.
        """
        try:
            return await self._listing(endpoint, values, params, answered)
        except FATAL:
            raise
        except SourceError as exc:
            snap.complete = False
            snap.incomplete_reasons.append(f"{what}: {exc}")
            return None

    def wants_full(self, state: dict[str, Any]) -> bool:
        """A full read without marks or when the last one is ``full_reconcile_hours`` old."""
        return okta_incremental.due_for_full(state, self.settings.full_reconcile_hours)

    async def delta(
        self, state: dict[str, Any], staged: Snapshot, progress: Progress = no_progress
    ) -> DeltaResult | None:
        """The changes since the saved marks, on top of the staged mirror (``None``: no marks)."""
        if not state.get("users_since") or not state.get("groups_since"):
            return None
        self.started, self.saved_state = None, None
        self.stats.extra["mode"] = "incremental"
        merged = await okta_incremental.snapshot_since(self, staged, state, progress)
        return delta_between(staged, merged, self.state if merged.complete else state)

    async def snapshot(self, progress: Progress = no_progress) -> Snapshot:
        """A full read (see module docstring); its marks become :attr:`saved_state`."""
        self.started, self.saved_state = None, None
        self.stats.extra["mode"] = "full"
        return await self._full(progress)

    async def _full(self, progress: Progress) -> Snapshot:
        """Users, deprovisioned users and groups → members side by side (see docstring)."""
        snap = Snapshot()
        # Each branch's reasons (and the members) in its own snapshot, merged in a fixed order.
        parts = {"users": Snapshot(), "deprovisioned": Snapshot(), "groups": Snapshot()}
        answered = asyncio.Event()  # set by the first users page; the other branches wait for it
        chains = 2 if self.settings.include_deprovisioned else 1
        progress(Event("fetch", "reading Okta users, then groups and their members alongside"))

        async def users() -> list[dict[str, Any]]:
            params = {"limit": str(USERS_PAGE)}
            read = await self._read(parts["users"], "users", USERS, params, None, answered)
            answered.set()  # also after a failed (not fatal) first page: the others go on
            progress(Event("fetch", f"{len(read or ())} users read"))
            return checked_users(parts["users"], read)

        async def deprovisioned() -> list[dict[str, Any]]:
            if not self.settings.include_deprovisioned:
                return []
            await answered.wait()
            params = {"limit": str(USERS_PAGE), "filter": DEPROVISIONED}
            part = parts["deprovisioned"]
            return checked_users(part, await self._read(part, "deprovisioned users", USERS, params))

        async def groups() -> list[dict[str, Any]]:
            await answered.wait()
            params = {"limit": str(self.settings.groups_page_size)}
            listed = checked_groups(
                parts["groups"], await self._read(parts["groups"], "groups", GROUPS, params)
            )
            wanted = [g for g in listed if self._wanted(g)]
            ids = [g["id"] for g in wanted]
            await self._members(parts["groups"], ids, progress, reserved=chains)
            return wanted

        active, gone, wanted = await gather(users(), deprovisioned(), groups())
        raw_users = active + gone
        found = records(snap, USERS.label, "user", raw_users, self.to_user, login_of)
        snap.users = list({u.source_id: u for u in found}.values())
        snap.groups = records(snap, GROUPS.label, "group", wanted, to_group, name_of)
        snap.memberships = parts["groups"].memberships
        for part in parts.values():
            snap.complete = snap.complete and part.complete
            snap.incomplete_reasons += part.incomplete_reasons
            snap.skipped += part.skipped
        if snap.complete:
            first = {"full_at": time.time()}
            self.state = okta_incremental.marks(raw_users, wanted, first, self.started)
            self.saved_state = self.state
        return snap

    async def _members(
        self, snap: Snapshot, group_ids: list[str], progress: Progress, reserved: int = 0
    ) -> None:
        """Read every group's members with a few workers (the pacer keeps them in budget).

        ``reserved`` request slots of the HTTP client's ``concurrency`` are left to listings
        running alongside.
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
                members = await self._read(
                    snap, f"members of group {gid}", GROUP_USERS, params, {"id": gid}
                )
                members = identified(snap, f"{GROUP_USERS.label} ({gid})", members or [])
                snap.memberships += [Membership(gid, str(m["id"])) for m in members]
                done += 1
                progress(Event("fetch", "group members", done, len(group_ids)))

        count = max(1, min(self.http.budget.concurrency - reserved, len(group_ids)))
        await gather(*(worker() for _ in range(count)))
        snap.memberships.sort()

    def _wanted(self, group: dict[str, Any]) -> bool:
        return group.get("type", "OKTA_GROUP") in self.settings.group_types

    async def fetch_user(self, key: str) -> Snapshot | None:
        """One user by id or login, with every group it is a direct member of."""
        try:
            raw = await self.http.get_json(USER, {"id": key})
        except NotFound:
            return None
        snap = Snapshot()
        users = records(snap, USER.label, "user", [raw], self.to_user, login_of)
        if not users:
            raise ListingError(f"{USER.label}: the answer for {key!r} is not a usable user")
        user = users[0]
        groups = await self.http.get_json(USER_GROUPS, {"id": user.source_id})
        if not isinstance(groups, list):
            raise ListingError(f"{USER_GROUPS.label}: the answer is not a list of groups")
        wanted = [g for g in checked_groups(snap, groups) if self._wanted(g)]
        snap.users = [user]
        snap.groups = records(snap, USER_GROUPS.label, "group", wanted, to_group, name_of)
        listed = {g.source_id for g in snap.groups}
        snap.memberships = sorted(Membership(gid, user.source_id) for gid in listed)
        return snap

    def to_user(self, raw: dict[str, Any]) -> SourceUser:
        """An Okta user object as a :class:`SourceUser` (status mapped by ``active_statuses``)."""
        checked_user(raw)
        profile = raw.get("profile") or {}
        status = str(raw.get("status", ""))
        first, last = profile.get("firstName"), profile.get("lastName")
        name = profile.get("displayName") or " ".join(p for p in (first, last) if p) or None
        return SourceUser(
            source_id=str(raw["id"]),
            login=str(profile.get("login") or raw["id"]),
            email=profile.get("email"),
            display_name=name,
            given_name=first,
            family_name=last,
            active=status in self.active,
            manager_id=profile.get("managerId"),
            attributes={"status": status, "profile": _clean(profile)},
        )

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


def checked_users(snap: Snapshot, items: list[Any] | None) -> list[dict[str, Any]]:
    """The usable user objects of a listing (see :func:`~idpsync.sources.shape.records`)."""
    return records(snap, USERS.label, "user", items or [], checked_user, login_of)


def checked_groups(snap: Snapshot, items: list[Any] | None) -> list[dict[str, Any]]:
    """The usable group objects of a listing."""
    return records(snap, GROUPS.label, "group", items or [], checked_group, name_of)


def to_group(raw: dict[str, Any]) -> SourceGroup:
    """An Okta group object as a :class:`SourceGroup`."""
    checked_group(raw)
    profile = raw.get("profile") or {}
    return SourceGroup(
        source_id=str(raw["id"]),
        name=str(profile.get("name") or raw["id"]),
        description=profile.get("description"),
    )


def _page(response: httpx.Response, endpoint: Endpoint) -> list[dict[str, Any]]:
    body = json_body(response, endpoint)
    if not isinstance(body, list):
        raise ListingError(f"{endpoint.label}: expected a JSON array, got {type(body).__name__}")
    return body


def _clean(profile: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in profile.items() if v is not None}


__all__ = ["DEFAULT_CONCURRENCY", "ENDPOINTS", "OktaSource", "bucket_of", "next_link"]
