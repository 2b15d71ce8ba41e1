"""A streamed full read's member edges handed to the run's sink as the read keeps them.

In a full read with batches, :func:`.chains.settle` keeps each member listing that ends once
the users and groups listings have ended: its edges to listed users and groups, each distinct
edge once. Those are the edges :meth:`~idpsync.sources.base.Source.snapshot` would hold of
that group, but for one case: a group found gone at the end of the read (its listing and the
group both 404) takes every edge *to* it out of the listings kept before. So a streamed read
(:attr:`~idpsync.sources.base.Source.sink` set) hands each kept listing over at once, notes
the group-in-group edges it handed (a few: nested groups), and at the end
(:meth:`Handover.finish`) withdraws those whose member group is not among the groups read,
then hands over the rest of the snapshot's edges: the listings still open when the users or
groups listing ended or when the read's last page came, and those read alone. Each edge is
handed at most once (a listing's kept edges are distinct, and each names its own group), so
withdrawing one takes back its only copy.

A listing that fails gives no edge and is never handed (it is read alone, then kept at the
end); the users or groups listing failing ends nothing early (:func:`.chains.settle` waits
for both to end), so the read hands everything at its end, as the read in memory keeps it.

Without batches (``batch_size = 0``) a full read does not stream
(:meth:`~idpsync.sources.google.reader.GoogleSource.streaming`): its users listing runs
beside the member listings and nothing is kept before the last page, so it would hand every
edge over after the read, where the stream's writes would only add to the run.
"""

from __future__ import annotations

from idpsync.model import EdgeList, MemberKind
from idpsync.sources.base import EdgeSink

_GROUP = list(MemberKind).index(MemberKind.GROUP)
"""A group member's code in an :class:`~idpsync.model.EdgeList`'s kinds."""


class Handover:
    """Hands kept listings to ``sink`` and takes back what a group found gone leaves behind."""

    __slots__ = ("nested", "sink")

    def __init__(self, sink: EdgeSink) -> None:
        self.sink = sink
        self.nested = EdgeList()
        """The group-in-group edges handed over so far (each once)."""

    def hand(self, kept: EdgeList) -> EdgeList:
        """Hand a kept listing's edges over; the part the snapshot keeps of them (empty).

        ``kept`` is a :meth:`~idpsync.model.EdgeList.part` of the snapshot's edges: it goes
        over with a table of its own (:meth:`~idpsync.model.EdgeList.detached`), so the sink
        looks only at its ids.
        """
        if kept:
            edges = kept.detached()
            if _GROUP in edges.columns()[4]:  # nested groups: noted, in case one is found gone
                self.nested.extend(e for e in edges if e.member_kind is MemberKind.GROUP)
            self.sink.edges(edges)
        return kept.part() if kept else kept

    def finish(self, found: EdgeList, groups: set[str]) -> tuple[EdgeList, int]:
        """At the read's end: what was handed to a group not in ``groups`` back, ``found`` over.

        ``found`` is the snapshot's other edges. Returns the snapshot's edges (none) and how
        many edges were withdrawn (they count as left out, as the read in memory leaves them
        out: :func:`.chains.edges_of`).
        """
        gone = EdgeList(edge for edge in self.nested if edge.member_id not in groups)
        if gone:
            self.sink.withdraw(gone)
        if found:
            self.sink.edges(found)
        return EdgeList(), len(gone)
