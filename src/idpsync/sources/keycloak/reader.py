"""The ``keycloak`` source: users, the group tree and members of one realm (Admin REST API).

Reading a realm (``P`` = ``page_size``, ``M`` = ``members_page_size``)::

    token                      POST {base}/realms/{realm}/protocol/openid-connect/token
    /auth detection            GET  {base}[/auth]/realms/{realm}   (only when auth_prefix unset)
    users                      GET  …/users?briefRepresentation=true&first=…&max=P  (false:
                                      with user_attributes)
    top-level groups           GET  …/groups?briefRepresentation=true&first=…&max=P
    sub-groups (Keycloak ≥ 23) GET  …/groups/{id}/children?briefRepresentation=true&first=…&max=P
    members, every group       GET  …/groups/{id}/members?briefRepresentation=true&first=…&max=M

Paging is by offset and ends at the first page shorter than ``max`` (Keycloak sends no total);
children pages end once ``subGroupCount`` children have arrived. With ``U`` users, ``T``
top-level groups, ``s(g)`` sub-groups and ``m(g)`` direct user members of group ``g``, a full
read makes exactly::

    R = 1 + D + (⌊U/P⌋ + 1) + (⌊T/P⌋ + 1) + Σ_{g: s(g)>0} ⌈s(g)/P⌉ + Σ_g (⌊m(g)/M⌋ + 1)

requests (one more, ``events/config``, with ``admin_events``), where ``D`` = 0 when
``auth_prefix`` is set, 1 when the first detection request answers and 2 when only ``/auth``
does; the ``⌈s(g)/P⌉`` term is 0 for Keycloak ≤ 22, which inlines the tree. A token lives
300 s: a read longer than about 4 minutes adds one token request per 4 minutes
(:func:`request_count` computes ``R`` for tests and docs).

What runs when: the token first (refused credentials stop the run before anything else),
then, side by side: the users listing (with the default ``max`` of 1,000,000 one answer for
most realms), the group tree (level by level, each level's children concurrently), each
group's member list as soon as the group is read (not once the whole tree is) and, with
``admin_events``, the events clock (:func:`~idpsync.sources.keycloak.events.clock_since`).
Only the final assembly waits for all of them; a member missing from the user list (created
during the run) is taken from the member list then. At most ``http.concurrency`` requests
(default 8; see the docs for the choice) are in flight; until the users listing ends it keeps
one of them to itself and the member lists share the rest
(:class:`~idpsync.sources.lanes.Lanes`); the tree's few requests take no lane, so its deeper
levels never queue behind the member lists. With ``t`` seconds a request and ``c`` slots a
read takes about ``max(⌊U/P⌋ + 1, R / c) · t`` seconds plus the server's time per row.

Group names are the full path (``/eng/backend``) by default, since sub-groups of different
parents may share a name; with ``group_name = "name"`` two such groups keep their own ids and
the policy's collision check skips and reports them (never merges them). Keycloak membership is
direct only; a member of ``/eng/backend`` also holds ``/eng``'s roles: by default the parent
gets the sub-group as a *group* member (so ``policy.transitive`` and nested-group targets see
it); ``flatten_subgroups = true`` instead makes every member of a sub-group a direct member of
each group above it. A failed listing ends the read only when :data:`RULE` says so; else it
marks the read incomplete. Incremental reads (``admin_events``): see
:mod:`~idpsync.sources.keycloak.events`. See ``docs/sources/keycloak.md``.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from idpsync.auth.base import CachedTokenProvider, Token
from idpsync.check_reads import table_reads
from idpsync.errors import ShapeError
from idpsync.http import ConcreteEndpoint, Endpoint, HttpClient, HttpError
from idpsync.http import errors as e
from idpsync.http.failure import FailureRule, missing_base
from idpsync.model import EdgeList, Snapshot
from idpsync.sources.base import DeltaResult, Event, Probe, Progress, Source, no_progress
from idpsync.sources.keycloak import events, one_user
from idpsync.sources.keycloak.auth import RealmRoot, SignIn, missing_role
from idpsync.sources.keycloak.endpoints import (
    BRIEF,
    CHILDREN,
    DEFAULT_PAGE,
    GROUPS,
    MEMBERS,
    READS,
    TOKEN,
    USERS,
    endpoint_table,
    offset,
)
from idpsync.sources.keycloak.settings import KeycloakSourceSettings
from idpsync.sources.keycloak.tree import GroupTree, identified_once, listed_edges, user_reading
from idpsync.sources.lanes import Lanes, both, gather
from idpsync.sources.shape import identified, records

if TYPE_CHECKING:
    from idpsync.sources.registry import SourceContext

DEFAULT_CONCURRENCY = 8


def _fatal(exc: e.HttpError) -> bool:
    """What no later request can fix: credentials, roles, a missing realm; nothing else."""
    if isinstance(exc, e.Forbidden | e.Unauthorized | e.TokenError):
        return True
    if isinstance(exc, e.NotFound):
        return missing_base(exc) is True  # the realm, not one group or user, is missing
    return False


RULE = FailureRule(custom=_fatal)
"""When a failed listing ends the read: refused credentials or roles (401, 403, the token) and
a 404 on a realm-wide listing (no such realm). Anything else, including a 404 for one group or
user that went away while it was read, leaves that listing incomplete and the read goes on."""


def request_count(
    users: int,
    top_groups: int,
    subgroup_counts: Iterable[int],
    member_counts: Iterable[int],
    page: int = DEFAULT_PAGE,
    members_page: int = DEFAULT_PAGE,
    detection: int = 0,
) -> int:
    """``R`` of the module docstring (pass no sub-group counts for Keycloak ≤ 22)."""
    return (
        1
        + detection
        + users // page
        + 1
        + top_groups // page
        + 1
        + sum(math.ceil(s / page) for s in subgroup_counts if s > 0)
        + sum(m // members_page + 1 for m in member_counts)
    )


class KeycloakSource(Source):
    """Reads one realm through the Admin REST API (see module docstring).

    ``http`` is normally built with a :class:`~idpsync.sources.keycloak.auth.SignIn` flow
    (see :func:`idpsync.sources.keycloak.http_client`); the source then shares that flow's
    :class:`~idpsync.sources.keycloak.auth.RealmRoot`, so the ``/auth`` prefix is looked for
    once. ``root`` gives another one.
    """

    type = "keycloak"
    streams_edges = True

    def __init__(
        self,
        settings: KeycloakSourceSettings,
        http: HttpClient,
        *,
        context: SourceContext | None = None,
        root: RealmRoot | None = None,
    ) -> None:
        super().__init__()
        self.settings, self.http, self.context = settings, http, context
        self.stats = http.stats
        self.user_record, self.user_params = user_reading(settings.user_attributes, context)
        if root is None:
            root = http.auth.root if isinstance(http.auth, SignIn) else RealmRoot(settings)
        self.root = root

    @property
    def values(self) -> dict[str, str]:
        """The placeholders every endpoint needs: ``{base}`` (the root) and ``{realm}``."""
        return {"base": self.root.current, "realm": self.settings.realm}

    async def prepare(self) -> None:
        """Find the realm's root (the ``/auth`` prefix) unless it is known already."""
        await self.root.url(self.http)

    # ---- paging --------------------------------------------------------------------------

    async def _pages(
        self,
        endpoint: Endpoint,
        values: Mapping[str, str],
        size: int,
        snap: Snapshot,
        what: str,
        *,
        count: int | None = None,
        params: Mapping[str, str] = BRIEF,
        known: set[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Every item of an offset-paged listing; a failure marks ``snap`` incomplete.

        The listing ends at a page shorter than ``size`` or once ``count`` items arrived.
        ``known``: ids found usable already (see :func:`~.tree.identified_once`).
        """
        items: list[dict[str, Any]] = []
        where = f"{endpoint.label} ({what})"
        pages = self.http.pages(
            endpoint, {**self.values, **values}, params=params, paginator=offset(size, count)
        )
        try:
            async for page in pages:
                found = page.records
                if known is None:
                    items.extend(identified(snap, where, found))
                else:
                    items.extend(identified_once(snap, where, found, known))
        except HttpError as exc:
            if not RULE.fatal(exc):
                snap.mark_incomplete(f"{what} could not be read to the end: {exc}")
            elif isinstance(exc, e.Forbidden):
                raise missing_role(exc, self.settings) from exc
            else:
                raise
        except ShapeError:
            snap.mark_incomplete(f"{what}: the answer is not a JSON array")
        return items

    # ---- the full read -------------------------------------------------------------------

    async def snapshot(self, progress: Progress = no_progress) -> Snapshot:
        """Users, the group tree and every group's direct members.

        The users listing runs side by side with the tree and the member lists (which start
        as soon as the tree is read); only the assembly waits for both.
        """
        await self.prepare()
        assert isinstance(self.http.auth, CachedTokenProvider)
        await self.http.auth.token()  # refused credentials fail here, before any listing
        self.saved_state = None
        s = self.settings
        snap = Snapshot()
        progress(Event("fetch", f"reading users and groups of realm {s.realm}"))
        lanes = Lanes(self.http.budget.concurrency)
        listed: dict[str, dict[str, Any]] = {}
        # the events clock is read beside the listings, not before them (see events.clock_since)
        clock = events.clock_since(self, time.monotonic()) if s.admin_events else _no_clock()
        started, (raw_users, (tree, ids)) = await both(
            clock,
            both(self._users(snap, lanes), self._groups_and_members(snap, lanes, listed, progress)),
        )
        found = records(snap, USERS.label, "user", raw_users, self.user_record, _username)
        users = {u.source_id: u for u in found}
        # A user created after the user list was read is taken from the member list.
        late = [raw for user_id, raw in listed.items() if user_id not in users]
        late_users = records(snap, MEMBERS.label, "user", late, self.user_record)
        users |= {u.source_id: u for u in late_users}
        snap.users = list(users.values())
        snap.groups = tree.groups(s.group_name)
        if self.sink is None:
            snap.memberships = EdgeList(tree.memberships(ids, s.flatten_subgroups, snap.edge))
        else:  # each group's members went over as its listing ended
            self.sink.edges(tree.group_edges())
        self.stats.extra |= {"groups": len(tree.nodes), "group_shape": tree.shape}
        if started is not None and snap.complete:
            keeps, overlap = events.reads_attributes(self), s.events_overlap_seconds
            self.saved_state = events.new_state(started, overlap, time.time(), keeps)
        return snap

    def streaming(self) -> bool:
        """Whether each group's members go to the stage as its listing ends.

        Not with ``flatten_subgroups``: each edge copied to every group above, once, is decided
        on the whole read (that configuration reads in memory).
        """
        return self.streams_edges and not self.settings.flatten_subgroups

    def wants_full(self, state: dict[str, Any]) -> bool:
        """A full read unless ``admin_events`` is on, the marks are usable and not too old."""
        return not self.settings.admin_events or events.full_is_due(state, self)

    async def delta(
        self, state: dict[str, Any], staged: Snapshot, progress: Progress = no_progress
    ) -> DeltaResult | None:
        """What the admin events since ``state`` say changed (``None``: read everything)."""
        self.stats.extra["mode"] = "admin events"
        return await events.read_delta(self, state, staged, progress)

    async def _users(self, snap: Snapshot, lanes: Lanes) -> list[dict[str, Any]]:
        """The user list: the chain ``lanes`` keeps a slot for."""
        try:
            size, params = self.settings.page_size, self.user_params
            return await self._pages(USERS, {}, size, snap, "the user list", params=params)
        finally:
            lanes.chain_done()

    async def _groups_and_members(
        self,
        snap: Snapshot,
        lanes: Lanes,
        listed: dict[str, dict[str, Any]],
        progress: Progress,
    ) -> tuple[GroupTree, dict[str, list[str]]]:
        """The tree and each group's direct member ids.

        A group's member listing starts as soon as the group is read (not once the whole
        tree is): the tree's deeper levels are read while the first members arrive.
        ``listed`` keeps the first brief representation of each member: one per user, not
        one per membership, so a million edges do not hold a million user objects.
        """
        size, known = self.settings.members_page_size, set[str]()

        async def one(gid: str) -> list[str]:
            async with lanes.other():
                found = await self._pages(
                    MEMBERS, {"id": gid}, size, snap, f"members of group {gid}", known=known
                )
            ids = [str(raw["id"]) for raw in found]
            for user_id, raw in zip(ids, found, strict=True):
                if user_id not in listed:
                    listed[user_id] = raw
            if self.sink is not None:  # a streamed read: the listing's edges go at once
                self.sink.edges(listed_edges(gid, ids))
            return ids

        started: dict[str, asyncio.Future[list[str]]] = {}

        def found(gids: Iterable[str]) -> None:
            for gid in gids:
                if gid not in started:
                    started[gid] = asyncio.ensure_future(one(gid))

        try:
            tree = await self._tree(snap, found)
        except BaseException:
            await _cancel(started.values())
            raise
        progress(Event("fetch", f"read {len(tree.nodes)} groups; reading their members"))
        gids = list(tree.nodes)
        found(gids)  # every group has a listing, however it was added
        lists = await gather(*(started[gid] for gid in gids))
        progress(Event("fetch", f"read members of {len(gids)} groups", len(gids), len(gids)))
        return tree, dict(zip(gids, lists, strict=True))

    async def _tree(
        self, snap: Snapshot, found: Callable[[Iterable[str]], None] = lambda gids: None
    ) -> GroupTree:
        """The group tree, level by level; ``found`` hears of each group as it is read.

        Its few requests take no lane of their own (they wait only for the client's budget):
        queued behind thousands of member listings, each nested level would wait for all of
        them.
        """
        tree = GroupTree()
        size = self.settings.page_size

        def add(raws: Iterable[dict[str, Any]], parent: str | None) -> None:
            before = len(tree.nodes)
            for raw in raws:
                tree.add_or_mark(raw, parent, snap)
            found(itertools.islice(tree.nodes, before, None))

        async def children(gid: str, count: int) -> list[dict[str, Any]]:
            return await self._pages(
                CHILDREN, {"id": gid}, size, snap, f"sub-groups of {gid}", count=count
            )

        add(await self._pages(GROUPS, {}, size, snap, "the group list"), None)
        while due := tree.take_pending():
            lists = await gather(*(children(gid, n) for gid, n in due))
            for (gid, _), kids in zip(due, lists, strict=True):
                add(kids, gid)
        return tree

    # ---- one user ------------------------------------------------------------------------

    async def fetch_user(self, key: str) -> Snapshot | None:
        """One user by id, username or e-mail, with direct groups and the groups above them."""
        return await one_user.fetch_user(self, key)

    # ---- diagnostics ---------------------------------------------------------------------

    def endpoints(self) -> list[ConcreteEndpoint]:
        """Every endpoint, URLs filled in for this configuration."""
        return endpoint_table(self.settings, self.root.current)

    def probes(self) -> list[Probe]:
        """A token request, then one minimal read per endpoint of the table."""
        # The table is read again after prepare: it may have found the /auth prefix.
        reads = table_reads(self.http, self.endpoints(), READS, self.prepare, self.endpoints)
        return [
            Probe("token", TOKEN.label, self._probe_token),
            *(Probe(p.step, p.target, self._keycloak_words(p.run)) for p in reads),
        ]

    async def _probe_token(self) -> str:
        await self.prepare()
        assert isinstance(self.http.auth, CachedTokenProvider)
        token = await self.http.auth.token()
        return f"token obtained from {self.root.current}, valid {_seconds(token)} s"

    def _keycloak_words(self, run: Callable[[], Awaitable[str]]) -> Callable[[], Awaitable[str]]:
        async def translated() -> str:
            try:
                return await run()
            except e.Forbidden as exc:
                raise missing_role(exc, self.settings) from exc

        return translated

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()


async def _no_clock() -> int | None:
    return None


async def _cancel(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel ``tasks`` and wait for them (no request outlives the read that failed)."""
    pending = list(tasks)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


def _seconds(token: Token) -> int:
    return max(0, int(token.expires_at - time.time()))


def _username(raw: dict[str, Any]) -> object:
    return raw.get("username")
