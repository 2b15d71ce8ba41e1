"""The ``google`` source: Google Workspace users, groups and members (Admin SDK Directory v1).

A full snapshot lists, at Google's largest page sizes, every user (``maxResults=500``), every
group (``200``) and each group's members (``200``, concurrently, within the budget of
``quota`` queries per minute); with ``fetch_photos`` each user's photo version is the listing's
``thumbnailPhotoEtag`` (the run downloads changed photos, :mod:`.photos`). The Directory API
has no delta query; with ``incremental = "reports"`` runs between full reads follow the admin
activity log instead (:mod:`~idpsync.sources.google.incremental`), and ``batch_size``
sends every member listing page in rolling batches (:mod:`~idpsync.sources.google.rolling`).

Request count of a full snapshot (asserted in ``tests/sources/test_google_e2e.py``)::

    R = T + X    (batches, the default)      R = T + ceil(U / 500) + ceil(G / 200) + Σ_g P_g

``X``, the batch requests, carries every page as a call (:mod:`.chains`): between the
longest chain, ``max(ceil(U / 500), max P_g, ceil(C / batch_size))``, and ``C`` for ``C =
ceil(U / 500) + ceil(G / 200) + Σ_g P_g`` calls (:mod:`.rolling`); with ``batch_size = 0``
every page is a single request (right). ``P_g = max(1, ceil(M_g / 200))`` pages of group
``g``; ``T`` token requests (1 per run), ``U`` users, ``G`` groups, ``M_g`` members Google
returns for group ``g`` (direct members; with ``nested`` the derived ones too). A single-user
fetch costs ``T + 1 + Σ_k ceil(D_k / 200) + [manager]``: the user, the direct groups of the
user and of every group above them (``groups?userKey=``, ``D_k`` groups each) and the
manager's id (``users/{email}``). Retries add to both. The run adds one request per changed
photo.

What runs when: the token first (refused credentials stop the run before anything else).
With batches, one scheduler (:mod:`.rolling`) sends one main batch a round trip carrying the
next users page, the next groups page, the largest group's next member page and what else the
quota allows; each groups page's member listings start as soon as it is in. Without batches,
two branches run side by side: the users listing, a chain of ``ceil(U / 500)`` pages each
waiting for the one before (its page token), which keeps one of the ``http.concurrency``
slots (default 16) to itself until it ends (:class:`~idpsync.sources.lanes.Lanes`); and the
groups listing, then every group's members. Only the final assembly waits for all: member
edges are kept when they point at a listed user or group, managers are matched by e-mail. A
snapshot takes about the longest of the users chain, the largest group's chain of pages and
the quota (every call, batched or not, counts; :mod:`.rolling`).

Mapping: ``suspended`` or ``archived`` → inactive (both keep the account from signing in;
``attributes.archived`` tells them apart); ``relations[type=manager]`` (an e-mail, matched
against primary addresses and aliases) → ``manager_id``; external members and the
``CUSTOMER`` member of a group are skipped. A listing that fails after retries marks the
snapshot incomplete (nothing is removed); refused credentials fail the run (:data:`RULE`
decides which failure is which). A 404 on a group's member listing means the group is gone only
if ``GET groups/{groupKey}`` answers 404 too.

Listings are read with :meth:`~idpsync.http.HttpClient.read_all` as the endpoint table of
:mod:`idpsync.sources.google.endpoints` says; the HTTP client comes ready, with its token
flow (:mod:`idpsync.sources.google.auth`), from :func:`idpsync.sources.google.http_client`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from idpsync.auth import CachedTokenProvider
from idpsync.auth.authorize import AuthorizationCodeFlow
from idpsync.check_reads import table_reads
from idpsync.diagnostics import token_probe
from idpsync.errors import SourceError
from idpsync.http import ConcreteEndpoint, Endpoint, HttpClient, json_body
from idpsync.http import errors as e
from idpsync.http.failure import FailureRule
from idpsync.model import EdgeList, MemberKind, Snapshot, SourceGroup
from idpsync.photos import PhotoLimits, RawPhoto
from idpsync.sources.base import DeltaResult, Event, Probe, Progress, Source, no_progress
from idpsync.sources.clean import usable_id
from idpsync.sources.google import api as g
from idpsync.sources.google import batch as b
from idpsync.sources.google import chains, incremental, rolling
from idpsync.sources.google import photos as google_photos
from idpsync.sources.google.endpoints import (
    GOOGLE_CONSENT,
    GROUP,
    GROUP_PAGE,
    GROUPS,
    MEMBERS,
    TOKEN,
    USER,
    USER_PAGE,
    USERS,
    endpoint_table,
    projection,
    reads,
    scope_params,
    scopes_for,
    token_endpoint,
)
from idpsync.sources.google.handover import Handover
from idpsync.sources.google.settings import GoogleSourceSettings
from idpsync.sources.google.users import UserPages
from idpsync.sources.lanes import Lanes, both, gather
from idpsync.sources.shape import identified, records

if TYPE_CHECKING:
    from idpsync.sources.registry import SourceContext


def _one_group(exc: e.HttpError) -> bool | None:
    """A 400 on one group's member listing, or on the re-read of that group, is about it only."""
    if isinstance(exc, e.BadRequest) and exc.target.endpoint in (MEMBERS, GROUP):
        return False
    return None


RULE = FailureRule(also_fatal=(e.BadRequest,), custom=_one_group)
"""Which failures end the read: those of kind ``config`` (refused token or credentials, a
missing scope, DNS, TLS, the proxy, a page that is not from Google) and a 400 (a wrong
``customer`` or ``domain``), except a 404 and a 400 that concern one group only; any other
failure makes its listing incomplete."""


class GoogleSource(Source):
    """Reads a Google Workspace customer (see the module docstring)."""

    type = "google"
    streams_edges = True

    def streaming(self) -> bool:
        """A full read hands its edges over as it keeps them with batches only (.handover)."""
        return self.streams_edges and bool(self.settings.batch_size)

    def __init__(
        self,
        settings: GoogleSourceSettings,
        http: HttpClient,
        *,
        context: SourceContext | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(http.auth, CachedTokenProvider):
            raise TypeError(
                "GoogleSource needs an HttpClient built with its token flow "
                "(idpsync.sources.google.http_client)"
            )
        self.settings, self.http, self.context = settings, http, context
        self.stats = http.stats
        self.auth: CachedTokenProvider = http.auth
        self.sizes: dict[str, int] = {}
        self.credit = 0
        """Quota calls the next batches of single reads may send beyond the request budget
        (set by an incremental read: :func:`.incremental.burst`)."""

    # ---- what the CLI asks -----------------------------------------------------------------

    def endpoints(self) -> list[ConcreteEndpoint]:
        """Token endpoint and the Directory calls (per-object keys left as placeholders)."""
        return endpoint_table(self.settings, self.http.base_url)

    def probes(self) -> list[Probe]:
        """A token, then one minimal read per endpoint of the table (members of one group…)."""
        table = table_reads(self.http, self.endpoints(), reads(self.settings))
        return [token_probe(self.auth, TOKEN), *table]

    def authorization_flow(self) -> AuthorizationCodeFlow | None:
        """The consent flow (offline access, consent prompt) in OAuth mode; else ``None``."""
        s = self.settings
        if s.client_id is None:
            return None
        return AuthorizationCodeFlow(
            s.auth_url or GOOGLE_CONSENT,
            token_endpoint(s),
            s.client_id,
            s.client_secret,
            scopes_for(s),
            {"access_type": "offline", "prompt": "consent"},
        )

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()

    # ---- listings --------------------------------------------------------------------------

    def _scope(self) -> dict[str, str]:
        return scope_params(self.settings.customer, self.settings.domain)

    async def snapshot(self, progress: Progress = no_progress) -> Snapshot:
        """The whole customer; incomplete (never partial-as-complete) on any failed listing.

        Two branches run side by side: users, and groups (then every group's
        members, started as soon as the groups are listed); only the assembly waits for both.
        """
        snap, started, self.saved_state = Snapshot(), time.time(), None
        self.stats.extra["mode"] = "full"
        await self.auth.token()  # refused credentials fail here, before any listing starts
        self.credit, self.sizes = rolling.full_burst(self.settings), {}
        progress(Event("fetch", "listing users and groups"))
        lanes = Lanes(self.http.budget.concurrency)
        handover = None if self.sink is None else Handover(self.sink)  # a streamed read
        if self.settings.batch_size:  # every page a call in the batches (.chains)

            def convert(items: list[Any]) -> list[SourceGroup]:
                return records(snap, GROUPS.label, "group", items, g.to_group, _name)

            read = await chains.full_read(self, snap, lanes, progress, convert, handover)
            users, groups, members, kept = read
        else:
            kept = {}
            users, (groups, members) = await both(
                self._users(snap, lanes), self._groups_and_members(snap, lanes, progress)
            )
        snap.users = users.records(snap)
        listed = {grp.source_id: grp for grp in groups}  # a group listed twice: once
        snap.groups = [grp for gid, grp in listed.items() if gid in members]
        gone = len(snap.groups) < len(listed)  # the edges kept early are checked again
        snap.memberships = chains.edges_of(self, snap, members, kept, again=gone, handover=handover)
        self.stats.extra.update(users=len(snap.users), groups=len(snap.groups))
        if self.settings.incremental == "reports" and snap.complete:
            self.saved_state = incremental.marks(started, started, self.settings)
        return snap

    def wants_full(self, state: dict[str, Any]) -> bool:
        """A full read unless ``incremental = "reports"`` has a recent mark (see .incremental)."""
        if self.settings.incremental != "reports" or self.settings.nested:
            return True
        return incremental.due_for_full(state, self.settings)

    async def delta(
        self, state: dict[str, Any], staged: Snapshot, progress: Progress = no_progress
    ) -> DeltaResult | None:
        """What the admin activity log says changed (``None``: read everything)."""
        self.saved_state, self.stats.extra["mode"] = None, "incremental"
        return await incremental.delta(self, state, staged, progress)

    async def _users(self, snap: Snapshot, lanes: Lanes) -> UserPages:
        """The users listing (the chain ``lanes`` keeps a slot for), page by page as records.

        No users, and ``snap`` incomplete, when it cannot be read to its end (as
        :meth:`_listing`); :mod:`.users` says what is kept of each page.
        """
        params = {**self._scope(), "maxResults": str(USER_PAGE), **projection(self.settings)}
        users = UserPages(self.settings.fetch_photos)
        try:
            async for page in self.http.pages(USERS, params=params):
                users.take(page.records)
        except SourceError as exc:
            if RULE.fatal(exc):
                raise
            snap.mark_incomplete(f"the users listing could not be read to its end: {exc}")
            return UserPages(self.settings.fetch_photos)
        finally:
            lanes.chain_done()
        return users

    async def _groups_and_members(
        self, snap: Snapshot, lanes: Lanes, progress: Progress
    ) -> tuple[list[SourceGroup], dict[str, EdgeList]]:
        """The groups listing, then each group's member edges (while users are still listed)."""
        params = {**self._scope(), "maxResults": str(GROUP_PAGE)}
        async with lanes.other():
            items = await self._listing(snap, "groups", GROUPS, params)
        groups = records(snap, GROUPS.label, "group", items, g.to_group, _name)
        progress(Event("fetch", f"reading members of {len(groups)} groups", 0, len(groups)))
        self.sizes = g.member_counts(items)  # which member listings to start first
        return groups, await self._all_members(snap, groups, lanes, progress)

    async def _listing(
        self, snap: Snapshot, what: str, endpoint: Endpoint, params: dict[str, str]
    ) -> list[dict[str, Any]]:
        """Every item of a customer-wide listing; none, and ``snap`` incomplete, on a failure."""
        try:
            items: list[dict[str, Any]] = await self.http.read_all(endpoint, params=params)
            return items
        except SourceError as exc:  # HttpError after retries, a wrong shape, a repeated token
            if RULE.fatal(exc):
                raise
            snap.mark_incomplete(f"the {what} listing could not be read to its end: {exc}")
            return []

    async def _all_members(
        self, snap: Snapshot, groups: list[SourceGroup], lanes: Lanes, progress: Progress
    ) -> dict[str, EdgeList]:
        """Candidate edges by group id; a group deleted meanwhile is left out."""
        if self.settings.batch_size:  # every page in rolling batches, longest first (.rolling)
            found = await rolling.all_members(self, snap, groups, lanes, progress, self.sizes)
            return {grp.source_id: edges for grp, edges in zip(groups, found, strict=True)
                    if edges is not None}  # fmt: skip
        done, total = 0, len(groups)

        async def one(group: SourceGroup) -> EdgeList | None:
            nonlocal done
            async with lanes.other():
                edges = await self._members(snap, group)
            done += 1
            if done % 50 == 0 or done == total:
                progress(Event("fetch", "reading group members", done, total))
            return edges

        results = await gather(*(one(grp) for grp in groups))
        return {
            grp.source_id: edges
            for grp, edges in zip(groups, results, strict=True)
            if edges is not None
        }

    async def _members(self, snap: Snapshot, group: SourceGroup) -> EdgeList | None:
        """A group's candidate edges; ``None`` when the group is gone, none on failure.

        Each page is kept as edges as it comes (:class:`.batch.Listing`: 9 bytes a member,
        against 750 for Google's member resource) until the users are listed; the
        ``CUSTOMER`` member and other kinds count as skipped.
        """
        listing = b.Listing.of(snap, group)
        params = b.member_params(self.settings.nested)
        try:
            async for page in self.http.pages(
                MEMBERS, {"groupKey": group.source_id}, params=params
            ):
                listing.take(page.records)
        except e.NotFound as exc:
            return await self._gone_or_unread(snap, group, exc)
        except SourceError as exc:
            if RULE.fatal(exc):
                raise
            snap.mark_incomplete(f"members of group {group.name!r} ({group.source_id}): {exc}")
            return snap.memberships.part()
        return b.edges(self, snap, listing)

    async def _gone_or_unread(
        self, snap: Snapshot, group: SourceGroup, exc: e.NotFound
    ) -> EdgeList | None:
        """After a 404 on a group's members: ``None`` only if the group itself is 404 too.

        A group deleted between the groups listing and its member listing is gone, like a
        group not listed. Anything else (the group is still there, or cannot be read) leaves
        its members unknown: the snapshot is incomplete, so no edge of it is removed.
        """
        try:
            again = await self.http.request(
                GROUP, {"groupKey": group.source_id}, accept=GROUP.absent
            )
        except SourceError as failed:
            if RULE.fatal(failed):
                raise
            reread = f"and {GROUP.label} failed: {failed}"
        else:
            if again.status_code in GROUP.absent:
                return None  # deleted while we were reading
            reread = f"but {GROUP.label} still finds the group"
        snap.mark_incomplete(
            f"{MEMBERS.label} for group {group.name!r} ({group.source_id}) answered 404 "
            f"({exc.cause}) {reread}; its members are unknown this run"
        )
        return snap.memberships.part()

    def _skipped(self, count: int) -> None:
        extra = self.stats.extra
        extra["members_skipped"] = extra.get("members_skipped", 0) + count

    def photo_limits(self) -> PhotoLimits | None:
        """``photo_max_bytes`` and ``photo_budget`` when ``fetch_photos`` is on."""
        s = self.settings
        return PhotoLimits(s.photo_max_bytes, s.photo_budget) if s.fetch_photos else None

    async def photo(self, source_id: str, version: str) -> RawPhoto | None:
        """The thumbnail's ``photoData``, recorded as version ``version`` (:mod:`.photos`)."""
        return await google_photos.bytes_of(self, source_id, version)

    # ---- one user --------------------------------------------------------------------------

    async def fetch_user(self, key: str) -> Snapshot | None:
        """The user, their direct groups and the groups above those (``groups?userKey=``)."""
        body = await self.http.get_json(USER, {"userKey": key}, params=projection(self.settings))
        if body is None:
            return None  # 404, or 412: deleted recently (Google keeps it ~20 days)
        snap = Snapshot()
        found = records(snap, USER.label, "user", [body], g.checked_user, _email)
        if not found:
            raise SourceError(f"{USER.label}: the answer for {key!r} is not a usable user")
        item = found[0]
        manager = await self._manager_id(g.manager_email(item))
        ref = google_photos.version(item) if self.settings.fetch_photos else None
        user = g.to_user(item, manager, ref)
        snap.users.append(user)
        await self._groups_above(snap, user.source_id)
        return snap

    async def _manager_id(self, email: str | None) -> str | None:
        if not email:
            return None
        response = await self.http.request(USER, {"userKey": email}, accept=USER.absent)
        if response.status_code != 200:
            return None
        body = json_body(response, USER)
        return usable_id(body.get("id")) if isinstance(body, dict) else None

    async def _groups_above(self, snap: Snapshot, user_id: str) -> None:
        todo, seen = [(user_id, MemberKind.USER)], set()
        params = {"maxResults": str(GROUP_PAGE)}
        while todo:
            member, kind = todo.pop()
            if member in seen:
                continue
            seen.add(member)
            try:
                parents = await self.http.read_all(GROUPS, params={**params, "userKey": member})
            except SourceError as exc:
                if RULE.fatal(exc):
                    raise
                snap.mark_incomplete(f"groups of {member}: {exc}")
                continue
            where = f"{GROUPS.label} (userKey={member})"
            for group in records(
                snap, where, "group", identified(snap, where, parents), g.to_group
            ):
                if group.source_id not in {x.source_id for x in snap.groups}:
                    snap.groups.append(group)
                snap.memberships.append(snap.edge(group.source_id, member, kind))
                todo.append((group.source_id, MemberKind.GROUP))


def _email(item: dict[str, Any]) -> object:
    return item.get("primaryEmail")


def _name(item: dict[str, Any]) -> object:
    return item.get("name") or item.get("email")
