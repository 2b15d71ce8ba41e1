"""How a run reads its source: a delta on the staged mirror, or a full read (maybe streamed).

A full read of a source that streams (:attr:`~idpsync.sources.base.Source.streams_edges`) hands
its membership edges, checked as :func:`~idpsync.sources.clean.normalise` checks them
(:class:`~idpsync.sources.clean.CheckedEdges`), to an :class:`~idpsync.store.stream.EdgeStream`
as it reads: they go into a temporary table of the connection the run's transaction then
stages from, so the run never holds the tenant's edges (:mod:`idpsync.store.stream`).
"""

from __future__ import annotations

from typing import Any

from idpsync.app.delta import as_staged_delta, merge_delta
from idpsync.config import ConnectorSettings
from idpsync.model import Snapshot
from idpsync.sources.base import EdgeSink, Event, Progress, Source
from idpsync.store.staged_mirror import staged_mirror
from idpsync.store.store import Store
from idpsync.store.stream import streamable


def streams(store: Store, settings: ConnectorSettings, source: Source) -> bool:
    """Whether a full read of ``source`` streams its edges into the stage.

    Only a source that hands its edges over as it reads (:meth:`Source.streaming`), not for
    a shadow connector (it stages apart), and not into an in-memory SQLite store
    (:func:`~idpsync.store.stream.streamable`).
    """
    return source.streaming() and not settings.shadow_of and streamable(store.engine)


async def read(
    store: Store,
    name: str,
    source: Source,
    state: dict[str, Any] | None,
    progress: Progress,
    sink: EdgeSink | None = None,
) -> Snapshot:
    """A full snapshot, a complete delta (:class:`DeltaSnapshot`) or a partial delta's upserts.

    The source's ``delta()`` gets the staged mirror with each part (users, groups, edges) read
    only if it uses it, all from one read transaction held while it runs
    (:mod:`idpsync.store.staged_mirror`). A full read with ``sink`` hands its edges to it.
    """
    if state is not None:
        with staged_mirror(store, name) as staged:
            delta = await source.delta(state, staged, progress)
        if delta is not None:  # a partial delta's upserts: merge_delta reads nothing staged
            source.stats.extra["read"] = "delta"
            source.saved_state = delta.state if delta.complete else None
            return as_staged_delta(delta) if delta.complete else merge_delta(staged, delta)
        source.stats.extra["read"] = "full (saved delta state no longer valid)"
        progress(Event("fetch", "saved delta state no longer valid; reading everything"))
    else:
        source.stats.extra["read"] = "full"
    if sink is None:
        return await source.snapshot(progress)
    return await source.snapshot_to(sink, progress)
