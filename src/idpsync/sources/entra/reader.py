"""The ``entra`` source: Microsoft Entra ID users, groups and memberships through Graph.

Settings: :class:`~idpsync.config.EntraSourceSettings`; guide: ``docs/sources/entra.md``.

**Full snapshot, request formula** (``docs/sources/entra.md`` has it whole, with ``U`` users,
``G`` groups, ``m_g`` members of group ``g``). The token (1); the ``$deltatoken=latest``
links (with ``batch`` the groups' own too) and, with ``partition_users = "auto"``, the tenant's
user count, at once (with ``batch`` one batch call: :mod:`~idpsync.sources.entra.full_links`);
then the listings: users (one chain, or the 44 partitions of
:mod:`~idpsync.sources.entra.partitions` and a second count), groups (with
``$expand=members`` when ``expand_members``: :mod:`~idpsync.sources.entra.groups`) and the
members of every group whose expansion may be cut short. With ``batch`` (default) all those
listings ride in one reader's rounds of ``POST /$batch`` calls
(:mod:`~idpsync.sources.entra.batch`, whole calls where a first page can wait a round, or a
counted users partition while it has slack: :mod:`~idpsync.sources.entra.packing`), with the
groups delta partitions' links and their check (``full_links.py``); without it each page is a
request, the users chain in a lane of its own beside the others. Photos add ``U`` metadata
reads and the downloads of new versions (``photos.py``). Group edges come from the member
listings, never per user; or, with ``memberships`` (``auto`` on a partitioned tenant), from
each user's and group's ``memberOf``
(:mod:`~idpsync.sources.entra.members_side`: users and groups with ``$expand=memberOf``,
managers in a second users pass).

With ``required_groups`` in the policy (:func:`~idpsync.config_policy.fetch_scope`) the users
come from the member listings of the required groups (``$select`` of the user fields; with
``transitive`` also of the groups nested in them, each listed once), so ``GET /users`` is not
called. The scoped users' other groups still need every group's members (``$select=id``, each
group once), because the directory keeps a synced user's memberships in all groups. For the
``S`` scoped users managers cost one ``GET /users/{id}/manager`` each::

    requests = 1 + L + p(G) + Σ_g p(m_g) + (S if fetch_managers else 0) + (S if fetch_photos else 0)

(``p(n) = max(1, ceil(n / 999))``; ``L`` the delta links: 1 batch call with ``batch``, else
2). The groups listing comes first (it names the required
groups); then the rounds of member listings, then the other groups', then managers and photos.
Incremental runs and single-user reads: see :mod:`idpsync.sources.entra.delta`.

A listing that fails after the HTTP layer's retries (or repeats a next-page link) marks the
snapshot incomplete, naming the endpoint: nobody is removed. What retrying cannot fix (token
refused, 401, 403, DNS, TLS, proxy) fails the run (:data:`~idpsync.sources.entra.endpoints.RULE`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Coroutine
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from idpsync.auth.base import CachedTokenProvider
from idpsync.check_reads import table_reads
from idpsync.config_policy import PolicySettings, fetch_scope
from idpsync.diagnostics import token_probe
from idpsync.http import ConcreteEndpoint, Endpoint, HttpClient
from idpsync.http.errors import HttpError, NotFound
from idpsync.model import EdgeList, MemberKind, Snapshot, SourceUser
from idpsync.photos import PhotoLimits, RawPhoto
from idpsync.sources.base import DeltaResult, Event, Probe, Progress, Source, no_progress
from idpsync.sources.clean import usable_id
from idpsync.sources.entra import delta as entra_delta
from idpsync.sources.entra import endpoints as ep
from idpsync.sources.entra import full_links, members_side, partitions
from idpsync.sources.entra import groups as entra_groups
from idpsync.sources.entra import photos as entra_photos
from idpsync.sources.entra import records as rec
from idpsync.sources.entra.batch import BatchedListings
from idpsync.sources.entra.clouds import endpoint_table
from idpsync.sources.entra.delta_batch import DeltaRounds
from idpsync.sources.entra.endpoints import RULE
from idpsync.sources.entra.settings import EntraSourceSettings
from idpsync.sources.lanes import Lanes, gather
from idpsync.sources.shape import ShapeError, records

if TYPE_CHECKING:
    from idpsync.sources.registry import SourceContext

T = TypeVar("T")


class EntraSource(Source):
    """Reads Microsoft Entra ID through Microsoft Graph."""

    type = "entra"
    streams_edges = True

    def __init__(
        self,
        settings: EntraSourceSettings,
        http: HttpClient,
        *,
        context: SourceContext | None = None,
        policy: PolicySettings | None = None,
    ) -> None:
        """A reader over ``http``: a client for Graph's base URL with the token flow as auth.

        ``policy`` defaults to the connector's (from ``context``), else to the defaults.
        """
        super().__init__()
        if policy is None:
            policy = context.connector.policy if context is not None else PolicySettings()
        self.settings = settings
        self.http = http
        self.stats = http.stats
        self.scope = fetch_scope(policy)
        self.transitive = policy.transitive if settings.transitive is None else settings.transitive
        m = policy.mapping
        templates = [m.login, m.email, m.display_name, m.given_name, m.family_name]
        self.user_fields = rec.user_select(
            [*templates, *m.attributes.values()], settings.user_attributes
        )
        if not isinstance(http.auth, CachedTokenProvider):
            raise TypeError("the Entra source needs a client with its token flow as auth")
        self.auth: CachedTokenProvider = http.auth
        self.expanded: dict[str, list[Any]] = {}
        """Members of the groups whose ``$expand=members`` answer was whole (``groups.py``)."""

    def streaming(self) -> bool:
        """Not when scoped: a scoped read keeps only the edges of the users it lists."""
        return self.streams_edges and self.scope is None

    # -- diagnostics ---------------------------------------------------------------------------

    def endpoints(self) -> list[ConcreteEndpoint]:
        """Token endpoint and every Graph call this configuration makes."""
        return endpoint_table(self.settings, self.transitive)

    def probes(self) -> list[Probe]:
        """Token, then one minimal read of every endpoint of the table."""
        reads = table_reads(self.http, self.endpoints(), ep.READS)
        return [token_probe(self.auth, ep.TOKEN), *reads]

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.http.aclose()

    # -- full snapshot -------------------------------------------------------------------------

    async def snapshot(self, progress: Progress = no_progress) -> Snapshot:
        """Read everything (or everything the policy's required groups need); see module doc."""
        snap = Snapshot()
        progress(Event("fetch", "taking delta links"))
        links, before = await full_links.latest_links(self, count=self.scope is None)
        if self.scope is None:
            users: list[dict[str, Any]] = []
            parts = await self._users_and_groups(snap, users, before, links, progress)
        else:
            await entra_groups.read_groups(self, snap, progress)
            users, parts = await self._scoped(snap, progress), None
        snap.users = await self._finish_users(snap, users)
        progress(Event("fetch", f"read {len(snap.users)} users", len(snap.users), len(snap.users)))
        if parts is not None and snap.complete:  # see full_links.py
            links = parts.saved()
        self.saved_state = {**links, "full_at": datetime.now(UTC).isoformat()}
        return snap

    async def _guard(self, snap: Snapshot, endpoint: Endpoint, call: Awaitable[T]) -> T | None:
        """Run ``call``; a failure retrying cannot fix is raised, others mark ``snap``."""
        try:
            return await call
        except HttpError as exc:
            if RULE.fatal(exc):
                raise
            snap.mark_incomplete(f"{endpoint.label}: {exc}")
        except ShapeError as exc:
            snap.mark_incomplete(str(exc))
        return None

    async def listing(
        self,
        snap: Snapshot,
        endpoint: Endpoint,
        values: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> list[dict[str, Any]] | None:
        """A whole listing, or ``None`` (snapshot marked incomplete) when it failed."""
        return await self._guard(
            snap, endpoint, self.http.read_all(endpoint, values, params=params)
        )

    async def _users_and_groups(
        self,
        snap: Snapshot,
        users: list[dict[str, Any]],
        before: int | None,
        links: dict[str, str],
        progress: Progress,
    ) -> full_links.PartLinks | None:
        """Users beside groups and members (with ``batch``: in one reader's rounds).

        With ``batch`` the groups delta partitions' links ride there too (``full_links.py``).
        """
        lanes = Lanes(self.http.budget.concurrency)
        if not self.settings.batch:
            groups = self._groups_and_members(snap, progress, lanes)
            await gather(self._all_users(snap, users, before, lanes), groups)
            return None
        lanes.chain_done()  # no chain of single requests to keep a lane for
        size = self.settings.batch_size
        reader = DeltaRounds(self.http, snap, size=size, lanes=lanes, producers=3)
        parts = full_links.PartLinks(reader, links)
        if members_side.chosen(self, before):  # memberships from each user's and group's memberOf
            side = members_side.MembersSide(self, snap, reader)
            await gather(
                side.users(users, before, lanes), side.groups(progress, parts), parts.check()
            )
            return parts
        await gather(  # the users first: their listings start in the reader's first round
            self._all_users(snap, users, before, lanes, reader),
            entra_groups.groups_and_members(self, snap, progress, reader, parts),
            parts.check(),
        )
        return parts

    async def _all_users(
        self,
        snap: Snapshot,
        out: list[dict[str, Any]],
        before: int | None,
        lanes: Lanes,
        reader: BatchedListings | None = None,
    ) -> None:
        """The users listing into ``out`` (nothing when it failed), in a lane or ``reader``."""
        params = {"$top": ep.PAGE, "$select": ",".join(self.user_fields)}
        if self.settings.fetch_managers:
            params |= {"$top": "100", "$expand": "manager($select=id)"}
        try:
            items = await partitions.list_users(self, snap, params, before, lanes, reader) or []
            out.extend(records(snap, ep.USERS.label, "user", items, rec.checked_user, rec.upn))
        finally:
            lanes.chain_done()
            if reader is not None:
                reader.close()

    async def _groups_and_members(self, snap: Snapshot, progress: Progress, lanes: Lanes) -> None:
        """Groups, then each group's members one listing each (batched: ``_users_and_groups``)."""
        await entra_groups.read_groups(self, snap, progress)
        await self._all_members(snap, [x.source_id for x in snap.groups], progress, lanes)

    async def members(
        self,
        snap: Snapshot,
        group_id: str,
        select: str,
        out: dict[str, list[dict[str, Any]] | None] | None = None,
        lanes: Lanes | None = None,
    ) -> None:
        """One group's members as edges (and, in ``out``, the raw member objects), unbatched.

        ``lanes`` bounds how many member listings run at once (each holds one for all its pages).
        """
        params = {"$top": ep.PAGE, "$select": select}
        if lanes is None:
            items = await self.listing(snap, ep.MEMBERS, {"id": group_id}, params)
        else:
            async with lanes.other():
                items = await self.listing(snap, ep.MEMBERS, {"id": group_id}, params)
        good = entra_groups.add_edges(snap, group_id, items, self.sink)
        if out is not None:
            out[group_id] = good

    async def _all_members(
        self,
        snap: Snapshot,
        group_ids: list[str],
        progress: Progress,
        lanes: Lanes | None = None,
    ) -> None:
        progress(Event("fetch", "reading group members", 0, len(group_ids)))
        await entra_groups.members_of(self, snap, group_ids, "id", lanes)

    async def _scoped(self, snap: Snapshot, progress: Progress) -> list[dict[str, Any]]:
        """Users of the required groups (and nested ones); then every other group's edges."""
        assert self.scope is not None
        wanted = {name.casefold() for name in self.scope[0]}
        todo = [x.source_id for x in snap.groups if {x.source_id, x.name.casefold()} & wanted]
        users: dict[str, dict[str, Any]] = {}
        done: set[str] = set()
        select = ",".join(self.user_fields)
        while todo:
            batch = [x for x in dict.fromkeys(todo) if x not in done]
            done.update(batch)
            found = await entra_groups.members_of(self, snap, batch, select)
            todo = []
            for items in found.values():
                for item in items or []:
                    kind = rec.member_kind(item)
                    if kind is MemberKind.USER:
                        users[str(item["id"])] = item
                    elif kind is MemberKind.GROUP and self.transitive:
                        todo.append(str(item["id"]))
        rest = [x.source_id for x in snap.groups if x.source_id not in done]
        await self._all_members(snap, rest, progress)
        raws = records(
            snap, ep.MEMBERS.label, "user", list(users.values()), rec.checked_user, rec.upn
        )
        listed = {str(raw["id"]) for raw in raws}
        snap.memberships = EdgeList(
            e
            for e in snap.memberships
            if e.member_kind is MemberKind.GROUP or e.member_id in listed
        )
        return raws

    async def _finish_users(self, snap: Snapshot, raws: list[dict[str, Any]]) -> list[SourceUser]:
        """Managers (when not expanded) and photos, then the records."""
        per_user_manager = self.settings.fetch_managers and self.scope is not None
        managers: dict[str, str | None] = {}
        photos: dict[str, str | None] = {}
        calls: list[Coroutine[Any, Any, None]] = []
        for raw in raws:
            user_id = str(raw["id"])
            if per_user_manager:
                calls.append(self._manager(snap, user_id, managers))
            if self.settings.fetch_photos:
                calls.append(self._photo(snap, user_id, photos))
        await gather(*calls)

        def convert(raw: dict[str, Any]) -> SourceUser:
            uid = str(raw["id"])
            manager = managers.get(uid) if per_user_manager else rec.manager_of(raw)
            return rec.to_user(raw, manager, photos.get(uid))

        return records(snap, ep.USERS.label, "user", raws, convert, rec.upn)

    async def _manager(self, snap: Snapshot, user_id: str, out: dict[str, str | None]) -> None:
        """``out[user_id]`` = the manager's id (``None``: no manager)."""
        call = self.http.get_json(ep.MANAGER, {"id": user_id}, params={"$select": "id"})
        try:
            body = await call
            out[user_id] = usable_id(body.get("id")) if isinstance(body, dict) else None
            if out[user_id] is None:
                snap.mark_incomplete(f"{ep.MANAGER.label}: the answer has no usable id")
        except NotFound as exc:
            if not rec.is_missing(exc, "Request_ResourceNotFound"):
                snap.mark_incomplete(f"{ep.MANAGER.label}: {exc}")
            out[user_id] = None
        except HttpError as exc:
            if RULE.fatal(exc):
                raise
            snap.mark_incomplete(f"{ep.MANAGER.label}: {exc}")

    async def _photo(self, snap: Snapshot, user_id: str, out: dict[str, str | None]) -> None:
        """``out[user_id]`` = the photo's etag (``None``: no photo)."""
        try:
            out[user_id] = rec.photo_etag(await self.http.get_json(ep.PHOTO, {"id": user_id}))
        except NotFound as exc:
            if not rec.is_missing(exc, "ImageNotFound"):
                snap.mark_incomplete(f"{ep.PHOTO.label}: {exc}")
            out[user_id] = None
        except HttpError as exc:
            if RULE.fatal(exc):
                raise
            snap.mark_incomplete(f"{ep.PHOTO.label}: {exc}")

    def photo_limits(self) -> PhotoLimits | None:
        """``photo_max_bytes`` and ``photo_budget`` when ``fetch_photos`` is on."""
        s = self.settings
        return PhotoLimits(s.photo_max_bytes, s.photo_budget) if s.fetch_photos else None

    async def photo(self, source_id: str, version: str) -> RawPhoto | None:
        """``GET /users/{id}/photo/$value`` (:mod:`~idpsync.sources.entra.photos`)."""
        return await entra_photos.download(self.http, source_id, version)

    # -- incremental and single-user reads (see delta.py) ---------------------------------------

    def wants_full(self, state: dict[str, Any]) -> bool:
        """A full read when there are no delta links or the last full read is too old."""
        return entra_delta.wants_full(self, state)

    async def delta(
        self, state: dict[str, Any], staged: Snapshot, progress: Progress = no_progress
    ) -> DeltaResult | None:
        """Changes since the saved delta links (``None`` when a token expired)."""
        return await entra_delta.read_delta(self, state, staged, progress)

    async def fetch_user(self, key: str) -> Snapshot | None:
        """One user by id or userPrincipalName, with manager, groups and photo."""
        return await entra_delta.read_user(self, key)

    async def user_details(self, snap: Snapshot, raws: list[dict[str, Any]]) -> list[SourceUser]:
        """Records for users read one by one (managers and photos per user when enabled)."""
        managers: dict[str, str | None] = {}
        photos: dict[str, str | None] = {}
        calls: list[Coroutine[Any, Any, None]] = []
        for raw in raws:
            if self.settings.fetch_managers and "manager" not in raw:
                calls.append(self._manager(snap, str(raw["id"]), managers))
            if self.settings.fetch_photos:
                calls.append(self._photo(snap, str(raw["id"]), photos))
        await gather(*calls)

        def convert(raw: dict[str, Any]) -> SourceUser:
            uid = str(raw["id"])
            return rec.to_user(raw, rec.manager_of(raw) or managers.get(uid), photos.get(uid))

        return records(snap, ep.USER.label, "user", raws, convert, rec.upn)


__all__ = ["EntraSource"]
