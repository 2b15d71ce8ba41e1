"""Which of a round's ready pages go in its batch calls, so that the calls are whole.

Cutting every ready page of a round into calls of ``size`` (20) leaves the last call of most
rounds part-empty: at 100k users that was a third of the calls of a full read. So the pages of
a round are of two kinds:

* **due**: the next page of a listing already under way (a chain: each link comes from the page
  before, so holding it back would lengthen the read), a listing that started the read (the
  users, the groups), a retried item, and any page that already waited once;
* **spare**: a listing's first page added during the read (a group's members named by a groups
  page) and a one-off request (the user count after the partitions, the groups delta
  partitions' ``latest`` links and the check that follows them: ``full_links.py``).

The due pages go in ``ceil(due / size)`` calls; the spare ones fill the room those leave, and
make more calls only as long as the calls are whole (``⌊(due + spare) / size⌋``); a spare page
that did not fit waits one round and is then due. So a listing starts at most one round late,
never twice, and its later pages are never held; when no page is due, every spare one is sent.
"""

from __future__ import annotations

from typing import Protocol, TypeVar


class Item(Protocol):
    """A listing's page waiting for a round (``batch._Listing``)."""

    spare: bool
    held: bool


T = TypeVar("T", bound=Item)


def pack(todo: list[T], size: int) -> tuple[list[T], list[T]]:
    """Split ``todo`` into this round's items (due first) and the spare ones that wait."""
    due = [x for x in todo if x.held or not x.spare]
    spare = [x for x in todo if x.spare and not x.held]
    if not due:
        return spare, []
    calls = max(-(-len(due) // size), len(todo) // size)
    room = calls * size - len(due)
    for item in spare[room:]:
        item.held = True
    return due + spare[:room], spare[room:]
