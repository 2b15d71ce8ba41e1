"""One bounded System Log window read from both ends at once, the chains stopping where they meet.

A bounded query (``since`` and ``until`` both given) is a chain: each page's ``Link:
rel="next"`` names the next, so ``E`` events at 1,000 a page cost ``⌈E / 1000⌉`` round trips one
after the other, however they are spread in time (a burst of changes is published within a few
milliseconds, so windows of equal length do not split it). What Okta documents
(developer.okta.com, "System Log query" and the ``listLogEvents`` reference, read 2026-12-06):

* a bounded query's events "are guaranteed to be in order according to the ``published``
  field", ``sortOrder`` ``ASCENDING`` (default) or ``DESCENDING``, and its last page has no
  ``next`` link; a query without ``until`` and ``ASCENDING`` is a *polling* one instead;
* ``after`` is an opaque, system-generated cursor (the ``DESCENDING`` example's next link carries
  ``until=<published>&after=<uuid>``): only the next links are followed, never crafted;
* ``filter`` supports ``eventType eq "…"`` joined by ``or``; it may not name ``published``;
* whether ``since`` / ``until`` include their bound, and how events of the same millisecond are
  ordered, is not documented.

So the window is read by filter, each filter of :data:`FILTERS` as two chains of the same
window, all from the read's start: ``ASCENDING`` from ``since`` and, once the first ascending
page shows there is more, ``DESCENDING`` from ``until``. (Until 2026-12-06 one page of every
type went first and the filters read only what it left: one round trip more on the log's chain,
one request less when the window fits a page.) They stop as soon as they are *proven* to have
met:

1. the ascending chain's last ``published`` is **later** than the descending chain's last: every
   event before the first is in the ascending pages, every event after the second in the
   descending ones, and there is nothing else (this uses only the documented order);
2. both last events have the **same** ``published`` and the two chains' last ``s ≥ 2`` events
   are the same events in mirrored order: the tie order is fixed and ``DESCENDING`` reverses it
   (as a keyset cursor of ``(published, …)`` does), so everything between was read. Ties
   served in the same order from both ends never pass the test (two shared events would come
   in the same order), and the chains read on to 1 or 3. This rule *assumes* the tie order is
   fixed between requests (undocumented; no test could detect one that changes each time);
   rule 1 assumes nothing beyond the documented order;
3. or one chain reached its own end (no ``next`` link): it read the whole window alone.

Anything else (a chain fails, an event without ``uuid`` or ``published``) raises
:class:`SourceError` / :class:`Unusable` and the caller treats the log as unusable (the read
falls back to re-listing the moved groups: never an incomplete log taken as complete). Events
are merged by ``uuid`` (each event once), in ``published`` order; an add and a remove of one
(group, user) pair in the same millisecond, from the two filters, have no known order: the
caller settles them (:func:`~idpsync.sources.okta.syslog.settle_ties`).

The two filters split the types: adds, and removes with deletions. Requests: one a filter
when its events fit a page (two in all: the filters' first pages go out together); else
``⌈(E_f + 2) / 1000⌉`` or one more (``E_f`` the filter's events), in about
``1 + E_f / 2000`` round trips instead of ``E / 1000``. The chains run under the client's
concurrency and the log's own rate-limit bucket like every request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from idpsync.sources.okta.endpoints import LOGS

if TYPE_CHECKING:
    import httpx

    from idpsync.sources.okta.reader import OktaSource

ADD, REMOVE = "group.user_membership.add", "group.user_membership.remove"
DELETED = "user.lifecycle.delete.initiated"
KINDS = (ADD, REMOVE, DELETED)
"""The event types the log is read for (the first page asks for all three)."""
FILTERS: tuple[tuple[str, ...], ...] = ((ADD,), (REMOVE, DELETED))
"""The event types of each filter read as its own pair of chains (together: :data:`KINDS`)."""

Change = tuple[str, str, str, bool]
"""``(kind, group id, user id, added)``: kind ``edge``, ``unreadable`` (group), ``deleted``
(user) or ``skip``."""


class Unusable(Exception):
    """An event the log read cannot place (no ``uuid``, no ``published``, an unasked type)."""


@dataclass(slots=True)
class Entry:
    """One event as a chain read it: its time, identity and meaning."""

    at: datetime
    uuid: str
    change: Change


@dataclass
class Side:
    """What one chain (one direction of one filter) has read so far."""

    descending: bool
    entries: list[Entry] = field(default_factory=list)
    uuids: set[str] = field(default_factory=set)
    ended: bool = False
    """Read to the window's end (a page without a ``next`` link)."""
    requests: int = 0


def filter_of(kinds: tuple[str, ...]) -> str:
    """The ``filter`` asking for events of the types ``kinds``."""
    return " or ".join(f'eventType eq "{kind}"' for kind in kinds)


def published(event: dict[str, Any]) -> datetime:
    """An event's ``published`` as a time (:class:`Unusable` when absent or not a time)."""
    text = event.get("published")
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise Unusable(f"an event without a usable published time: {text!r}") from None
    if moment.tzinfo is None:
        raise Unusable(f"an event's published time has no zone: {text!r}")
    return moment


def has_next(response: httpx.Response) -> bool:
    """Whether an answer carries a ``Link: rel="next"``."""
    return any('rel="next"' in h or "rel=next" in h for h in response.headers.get_list("link"))


def met(asc: Side, desc: Side) -> str | None:
    """How the two chains are proven to have met (see module docstring), or ``None``."""
    if asc.ended or desc.ended:
        return "read to its end"
    if not asc.entries or not desc.entries:
        return None
    last_up, last_down = asc.entries[-1], desc.entries[-1]
    if last_up.at > last_down.at:
        return "crossed in time"
    if last_up.at < last_down.at:
        return None
    shared = len(asc.uuids & desc.uuids)
    if shared < 2:
        return None
    up = [e.uuid for e in asc.entries[-shared:]]
    down = [e.uuid for e in desc.entries[-shared:]]
    return "mirrored in one millisecond" if up == down[::-1] else None


class Window:
    """Both chains of one filter over ``[since, until)`` (see module docstring)."""

    def __init__(
        self,
        source: OktaSource,
        params: dict[str, str],
        kinds: tuple[str, ...],
        classify: Callable[[dict[str, Any]], Change],
    ) -> None:
        self.source, self.kinds, self.classify = source, kinds, classify
        self.params = {**params, "filter": filter_of(kinds)}
        self.asc, self.desc = Side(False), Side(True)
        self.how: str | None = None
        self.opened = asyncio.Event()
        """Set when the ascending chain's first page shows more pages (or the chain ended)."""

    async def chain(self, side: Side) -> None:
        """Read one direction until its end or a proven meeting."""
        order = "DESCENDING" if side.descending else "ASCENDING"
        params = {**self.params, "sortOrder": order}
        try:
            async for page in self.source.http.pages(LOGS, params=params):
                side.requests += 1
                self.take(side, page.records)
                side.ended = not has_next(page.response)
                self.opened.set()
                self.how = met(self.asc, self.desc)
                if self.how is not None:
                    return
                await asyncio.sleep(0)  # let the other chain take its page (fast transports)
                if self.how is not None:
                    return
        finally:
            self.opened.set()

    def take(self, side: Side, events: list[Any]) -> None:
        """Note one page's events on ``side`` (an event already there is not noted twice)."""
        for event in events:
            if not isinstance(event, dict) or not isinstance(event.get("uuid"), str):
                raise Unusable("an event without a uuid")
            if event.get("eventType") not in self.kinds:
                raise Unusable(f"an event of a type not asked for: {event.get('eventType')!r}")
            uid, change, at = event["uuid"], self.classify(event), published(event)
            if uid in side.uuids:
                continue  # the same event twice in one chain: counted once
            side.uuids.add(uid)
            side.entries.append(Entry(at, uid, change))

    async def read(self) -> None:
        """Both chains, the descending one started once the ascending one shows more pages."""
        up = asyncio.create_task(self.chain(self.asc))
        await self.opened.wait()
        if up.done() or self.asc.ended:
            await up
            self.how = self.how or "read to its end"
            return
        down = asyncio.create_task(self.chain(self.desc))
        tasks = {up, down}
        try:
            while self.how is None:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()  # a failed chain fails the window
                tasks -= done
                if not tasks and self.how is None:
                    raise Unusable("both chains ended without meeting")
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def entries(self) -> list[Entry]:
        """Every distinct event of the window: the ascending chain's, then the descending one's.

        The descending chain's are reversed and those the ascending one read are left out.
        """
        seen = set(self.asc.uuids)
        return self.asc.entries + [e for e in reversed(self.desc.entries) if e.uuid not in seen]


async def read_windows(
    source: OktaSource, params: dict[str, str], classify: Callable[[dict[str, Any]], Change]
) -> tuple[list[Entry], dict[str, Any]]:
    """The window's distinct events in ``published`` order (see module docstring).

    Also what each chain cost (requests ascending and descending, how they met).
    """
    windows = [Window(source, params, kinds, classify) for kinds in FILTERS]
    reads = [asyncio.create_task(w.read()) for w in windows]
    try:
        await asyncio.gather(*reads)
    finally:
        for task in reads:
            task.cancel()
        for task in reads:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    seen: set[str] = set()
    merged: list[Entry] = []
    for entry in (e for w in windows for e in w.entries()):
        if entry.uuid not in seen:
            seen.add(entry.uuid)
            merged.append(entry)
    merged.sort(key=lambda e: e.at)  # stable: each chain's own order kept within a millisecond
    costs: dict[str, Any] = {}
    for w in windows:
        costs[" or ".join(w.kinds)] = {
            "requests": [w.asc.requests, w.desc.requests],
            "met": w.how,
            "events": len(w.asc.uuids | w.desc.uuids),
        }
    return merged, costs
