"""What every source provides, and the events it reports while it reads."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from idpsync.errors import SourceError
from idpsync.http.stats import RequestStats
from idpsync.model import EdgeList, Membership, Snapshot, SourceGroup, SourceUser
from idpsync.photos import PhotoLimits, RawPhoto

if TYPE_CHECKING:
    from idpsync.auth.authorize import AuthorizationCodeFlow
    from idpsync.http.endpoint import ConcreteEndpoint

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Event:
    """Progress of a run, for progress bars, logs and the web UI."""

    phase: str
    """``fetch``, ``stage``, ``plan``, ``apply`` or ``done``."""
    message: str
    """One line for a person."""
    done: int | None = None
    """Items finished in this phase, when countable."""
    total: int | None = None
    """Items expected in this phase, when known."""


Progress = Callable[[Event], None]
"""A callback receiving :class:`Event` objects."""


def no_progress(_event: Event) -> None:
    """A progress callback that ignores everything."""


SourceStats = RequestStats
"""A source's counters: the request counters its HTTP client fills, and its own ``extra``."""


@dataclass(frozen=True, slots=True)
class Probe:
    """One step of ``idpsync check`` after the network steps (token request, a minimal read).

    ``run`` returns a short detail on success and raises :class:`SourceError` (an
    :class:`~idpsync.http.HttpError` for HTTP steps) on failure.
    """

    step: str
    """``token``, ``read`` or ``file``."""
    target: str
    """What is probed, e.g. ``GET /v1.0/users`` or a file path."""
    run: Callable[[], Awaitable[str]]


@dataclass
class DeltaResult:
    """What changed in the IdP since the saved state (an incremental read).

    The runner applies it to the connector's staged mirror and then plans as usual. Removals
    are explicit (the IdP said so), so an applied delta may remove. ``complete`` is false when a
    page could not be read: then only the upserts are applied, nothing is removed and the
    saved state is kept, so the next run reads the same changes again.
    """

    users: list[SourceUser] = field(default_factory=list)
    """Users created or changed (whole records)."""
    groups: list[SourceGroup] = field(default_factory=list)
    """Groups created or changed."""
    added: list[Membership] = field(default_factory=list)
    """Membership edges added."""
    removed: list[Membership] = field(default_factory=list)
    """Membership edges removed."""
    removed_users: list[str] = field(default_factory=list)
    """Ids of users deleted in the IdP."""
    removed_groups: list[str] = field(default_factory=list)
    """Ids of groups deleted in the IdP."""
    state: dict[str, Any] = field(default_factory=dict)
    """The connector state to save once the run succeeded (e.g. new delta links)."""
    complete: bool = True
    """Whether every delta page was read."""
    incomplete_reasons: list[str] = field(default_factory=list)
    """Why not, one sentence per problem."""
    limits: list[str] = field(default_factory=list)
    """Reasons that are the kind of read, not failures (see :attr:`Snapshot.limits`)."""


class EdgeSink(Protocol):
    """Where a streamed full read puts its membership edges as it reads them (the stage)."""

    def edges(self, batch: Iterable[Membership]) -> None:
        """Take ``batch`` (edges of listings read to their end; repeats allowed)."""

    def withdraw(self, batch: Iterable[Membership]) -> None:
        """Take back every copy of the edges of ``batch`` handed over (each copy listed)."""

    def discard(self) -> None:
        """Take back every edge handed over so far."""


class Source(ABC):
    """A connector's reader of one IdP."""

    type: str
    """The ``type`` value of the source's settings."""
    streams_edges: ClassVar[bool] = False
    """Whether :meth:`snapshot_to` hands its edges over as it reads (the runner then streams
    them into the stage); otherwise it reads in memory like :meth:`snapshot`."""

    def __init__(self) -> None:
        self.stats = SourceStats()
        self.saved_state: dict[str, Any] | None = None
        """State to save for the connector after a successful run (``None``: leave it)."""
        self.prior_state: dict[str, Any] = {}
        """The connector's saved state as the run found it (set by the runner before reading;
        a full read may take hints from it, never its completeness)."""
        self.sink: EdgeSink | None = None
        """Where a streamed full read hands its edges (set by :meth:`snapshot_to` while it
        reads, for a source that sets :attr:`streams_edges`)."""

    def streaming(self) -> bool:
        """Whether a full read of this source hands its edges over as it reads.

        :attr:`streams_edges` by default; a source may keep some configurations in memory.
        """
        return self.streams_edges

    def wants_full(self, state: dict[str, Any]) -> bool:
        """Whether an automatic run should read everything rather than a delta from ``state``.

        The default (sources without incremental reads) is always a full read.
        """
        return True

    async def delta(
        self, state: dict[str, Any], staged: Snapshot, progress: Progress = no_progress
    ) -> DeltaResult | None:
        """Read what changed since ``state``; ``None``: the state is no longer usable (read all).

        ``staged`` is the connector's mirror of the IdP as the last run left it (a source may
        look up what it already knows). Its ``users``, ``groups`` and ``memberships`` are each
        read from the store when first used, and may only be used within this call: a source
        should touch only what it needs, and prefer the narrow reads (``staged.user_ids()``,
        ``group_ids()``, ``managers()``), which build no record. Called when
        :meth:`wants_full` is false or an incremental run was asked for, and only with a
        non-empty saved state.
        """
        return None

    @abstractmethod
    async def snapshot(self, progress: Progress = no_progress) -> Snapshot:
        """Read every user, group and membership; mark the snapshot incomplete on gaps."""

    async def snapshot_to(self, sink: EdgeSink, progress: Progress = no_progress) -> Snapshot:
        """A full read whose membership edges go to ``sink``; the snapshot holds none.

        The edges of a listing go to ``sink`` only once the listing is read to its end (one that
        fails gives none), or page by page when the source takes back (``withdraw``,
        ``discard``) whatever the finished read does not keep, so that ``sink`` ends up with
        exactly the edges :meth:`snapshot` would hold (in any order). The default reads
        :meth:`snapshot` in memory and hands its edges over at the end; a source that sets
        :attr:`streams_edges` (:meth:`streaming`) reads :meth:`snapshot` with :attr:`sink` set,
        and hands them over as it reads.
        """
        if self.streaming():
            self.sink = sink
            try:
                return await self.snapshot(progress)
            finally:
                self.sink = None
        snap = await self.snapshot(progress)
        sink.edges(snap.memberships)
        snap.memberships = EdgeList()
        return snap

    async def fetch_user(self, key: str) -> Snapshot | None:
        """Read one user for a single-user sync (``idpsync sync-user``); ``None``: not found.

        ``key`` is the user's IdP id, login or e-mail address (as the IdP allows looking it
        up). The snapshot holds exactly that one user, with ``manager_id`` and ``photo_ref``
        filled as a full read would fill them, every group the user is a direct member of
        (and, so that transitive required groups work, the groups above those with their
        group-in-group edges), and the user's membership edges. It must be ``complete`` only
        if *all* of the user's groups were read. Sources that cannot look up one user keep
        this default, which raises :class:`SourceError`.
        """
        raise SourceError(f"the {self.type} source cannot fetch a single user; run a full sync")

    def photo_limits(self) -> PhotoLimits | None:
        """The limits of photo downloads when this source downloads photo bytes, else ``None``.

        ``None`` (the default) for IdPs without a photo API and when ``fetch_photos`` is off;
        the run then downloads nothing (:mod:`idpsync.app.photo_round`).
        """
        return None

    async def photo(self, source_id: str, version: str) -> RawPhoto | None:
        """The bytes of user ``source_id``'s photo, read at ``version`` (``None``: none now).

        The returned :attr:`RawPhoto.version` is the version the bytes belong to, which may be
        newer than ``version`` if the IdP can tell. Raises :class:`SourceError` on failure.
        """
        raise SourceError(f"the {self.type} source cannot download photos")

    async def aclose(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release network resources."""

    def endpoints(self) -> list[ConcreteEndpoint]:
        """The endpoints this configuration uses, URLs filled in (for ``idpsync endpoints``).

        Built from the source's endpoint table, the same one its fetching code uses. Templates
        with per-object placeholders (``{id}``) keep them. Empty for sources without network.
        """
        return []

    def network_note(self) -> str | None:
        """For a source without endpoints: what it reads instead (shown by the diagnostics)."""
        return None

    def probes(self) -> list[Probe]:
        """The token and minimal-read steps of ``idpsync check``, in order."""
        return []

    def authorization_flow(self) -> AuthorizationCodeFlow | None:
        """The interactive flow behind ``idpsync authorize``; ``None`` if the source has none."""
        return None


def delta_between(staged: Snapshot, merged: Snapshot, state: dict[str, Any]) -> DeltaResult:
    """The :class:`DeltaResult` turning ``staged`` into ``merged`` (for sources without deltas).

    For a source that can only produce the whole mirror with changes merged in (and the
    reference that Okta's delta from the change is tested against): users and groups new or
    different in ``merged`` are upserts, edges only
    in ``merged`` are added. Removals (users, groups, edges missing from ``merged``) are listed
    only when ``merged`` is complete; ``complete`` and ``incomplete_reasons`` come from it.
    """
    old_users = {u.source_id: u for u in staged.users}
    old_groups = {g.source_id: g for g in staged.groups}
    new_users = {u.source_id: u for u in merged.users}
    new_groups = {g.source_id: g for g in merged.groups}
    old_edges, new_edges = set(staged.memberships), set(merged.memberships)
    result = DeltaResult(
        users=[u for k, u in new_users.items() if old_users.get(k) != u],
        groups=[g for k, g in new_groups.items() if old_groups.get(k) != g],
        added=sorted(new_edges - old_edges),
        state=dict(state),
        complete=merged.complete,
        incomplete_reasons=list(merged.incomplete_reasons),
        limits=list(merged.limits),
    )
    if merged.complete:
        result.removed = sorted(old_edges - new_edges)
        result.removed_users = [k for k in old_users if k not in new_users]
        result.removed_groups = [k for k in old_groups if k not in new_groups]
    return result
