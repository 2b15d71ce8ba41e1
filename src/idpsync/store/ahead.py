"""The records' digests of a streamed full read made while PostgreSQL stages its edges (#21).

Staging a complete read compares each record's digest (of its JSON text) with the staged one
(:func:`idpsync.store.stage._replace_records`): at L that is 100,000 users' and 5,000 groups'
texts made and hashed (≈0.3 s of this process), none of it using the database. A streamed
read on PostgreSQL then stages its edges by a few statements that keep the server busy for
longer (:func:`idpsync.store.stage_edges._joined`: scans of the stream's table and of the
stage, ≈1 s at L), while this process waited.

:class:`DigestsAhead` makes the digests in a thread of its own while the staging thread runs
the edges' statements (which wait on the server with the GIL released): the two overlap. The
thread begins when the staging thread is about to wait on the server (:meth:`DigestsAhead.start`,
called just before the full join), not before: until then the staging thread runs Python of its
own (the staged edge digests read and compared with the read's sums, ≈0.2 s at L), and the two
would only take turns holding the GIL (that comparison took ≈0.5 s beside the thread at L). The
thread only reads the records it is given and returns a dict; it uses no connection and
touches nothing else, and the records are not changed while it runs (the run's snapshot is
released only after staging). The digests are exactly those staging makes itself, so the
stage, the :class:`~idpsync.store.stage.StageChange` and the statements are the same; only
the edges' statements come before the records' instead of after (the two touch different
tables, in the same transaction).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Generic, TypeVar

K = TypeVar("K")
R = TypeVar("R")

THREAD = "idpsync-record-digests"
"""The name of the thread that makes the digests."""


class DigestsAhead(Generic[K]):
    """Each table's records' digests, by id (the last record of an id wins), made in a thread."""

    def __init__(self, begin: Callable[[], dict[K, Future[dict[str, str]]]]) -> None:
        self._begin = begin
        self._futures: dict[K, Future[dict[str, str]]] | None = None

    def start(self) -> None:
        """Begin making the digests in the thread (once; :meth:`get` begins it if not yet)."""
        if self._futures is None:
            self._futures = self._begin()

    def get(self, table: K) -> dict[str, str] | None:
        """The digests made for ``table`` (waits for them; ``None``: none were asked for)."""
        self.start()
        future = (self._futures or {}).get(table)
        return None if future is None else future.result()

    def cancel(self) -> None:
        """Make no more digests: those not begun are not begun at all."""
        for future in (self._futures or {}).values():
            future.cancel()


@contextmanager
def digests_ahead(
    work: Mapping[K, Iterable[R]], digest: Callable[[R], str], key: Callable[[R], str]
) -> Iterator[DigestsAhead[K]]:
    """Make ``digest`` of each of ``work``'s records (by ``key``) in a thread, from ``start()``.

    On leaving (an exception too), the thread is waited for: it never outlives the block.
    """
    with ThreadPoolExecutor(1, thread_name_prefix=THREAD) as pool:

        def begin() -> dict[K, Future[dict[str, str]]]:
            return {
                table: pool.submit(_digests, list(records), digest, key)
                for table, records in work.items()
            }

        ahead = DigestsAhead(begin)
        try:
            yield ahead
        finally:
            ahead.cancel()


def _digests(
    records: list[R], digest: Callable[[R], str], key: Callable[[R], str]
) -> dict[str, str]:
    latest = {key(record): record for record in records}
    return {k: digest(record) for k, record in latest.items()}
