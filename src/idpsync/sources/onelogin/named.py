"""Groups of an incremental read with ``incremental_groups = "named"``: only those it needs.

``/api/1/groups`` has no page numbers and no total, only the ``after_cursor`` chain, so
listing G groups takes ⌈G / 50⌉ requests one after the other whatever the concurrency (100
at 5,000 groups: 30 s at 300 ms a page), far more than the changed users of an incremental
read. With ``named`` the read lists no groups: every group a changed user names that the
staged mirror does not hold yet is read by id (``GET /api/1/groups/{id}``, side by side),
and the edges to the groups the mirror holds are kept as they are (the group is not read
again). Renamed and deleted groups are not seen: they wait for the next full read, as
deleted users do, and no staged group is removed by such a read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from idpsync.errors import SourceError
from idpsync.http import HttpClient
from idpsync.model import Snapshot, SourceGroup
from idpsync.sources.lanes import gather
from idpsync.sources.onelogin.budget import BudgetStop
from idpsync.sources.onelogin.endpoints import GROUP
from idpsync.sources.onelogin.records import group_id, to_group
from idpsync.sources.onelogin.single import read_one

GROUP_PREFIX = group_id("")
"""The prefix of a OneLogin group's source id (``group:``): what a ``named`` read keeps."""


def unknown_groups(users: Iterable[Any], staged: frozenset[str]) -> list[str]:
    """The raw group ids the ``users`` records name that ``staged`` (source ids) lacks."""
    named = {
        str(item["group_id"]) for item in users if isinstance(item, dict) and item.get("group_id")
    }
    return sorted(raw for raw in named if group_id(raw) not in staged)


async def named_groups(
    http: HttpClient,
    snap: Snapshot,
    users: list[Any],
    staged: frozenset[str],
    fatal: Callable[[SourceError], bool],
) -> list[SourceGroup]:
    """Every group the ``users`` name that ``staged`` lacks, each by id.

    A group not found or not readable marks ``snap`` incomplete (its edges are then dropped
    and nothing is removed); an error ``fatal`` accepts, and a budget stop, end the read.
    """

    async def one(raw: str) -> list[SourceGroup]:
        try:
            return await read_one(http, snap, GROUP, raw, to_group, v1=True)
        except SourceError as exc:
            if isinstance(exc, BudgetStop) or fatal(exc):
                raise
            snap.mark_incomplete(f"could not read {GROUP.label} {raw}: {exc}")
            return []

    found = await gather(*(one(raw) for raw in unknown_groups(users, staged)))
    return [group for groups in found for group in groups]


__all__ = ["GROUP_PREFIX", "named_groups", "unknown_groups"]
