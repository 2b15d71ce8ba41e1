"""Two events of one (group, member) pair at the same millisecond, settled by asking Google.

The activity log's ``id.time`` has milliseconds; a change that adds and removes one member in
the same millisecond (a no-op move, a quick undo) leaves two events whose order the log does
not give (:data:`.memberlog.TIE`). Reading the group's whole member listing again answers it,
but costs ``⌈members / 200⌉`` requests (500 for a 100,000-member group). ``GET
groups/{groupKey}/members/{memberKey}`` answers the pair alone: the member's resource (200)
when the user is a direct member now, 404 when not. So a group whose only reason to be read
again is the tie has each tied pair asked that way (``batch_size`` calls a batch request,
:mod:`.fetch`); 200 with the member's id being the user the address resolves to → the edge is
there, 404 → it is not. Any other answer (a failure, a body without that id) leaves the group
to be read again whole, as before: nothing is guessed, and no edge is removed on a failed
read. Requests: ``⌈P / B⌉`` for ``P`` pairs asked (``B = batch_size``; ``P`` without one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from idpsync.sources.google.endpoints import MEMBER
from idpsync.sources.google.fetch import fetch_each
from idpsync.sources.google.memberlog import TIE, MemberLog, Reasons

if TYPE_CHECKING:
    from idpsync.sources.google.reader import GoogleSource

STAT = "ties_settled"
"""``stats.extra`` key: the tied pairs settled by one ``members.get`` each."""


async def settle(
    source: GoogleSource,
    log: MemberLog,
    again: Reasons,
    group_ids: Mapping[str, str],
    members: Mapping[str, str | None],
) -> MemberLog:
    """``log`` with the ties of the groups read again only for them settled by Google.

    ``group_ids`` and ``members`` map the addresses to ids (as for :func:`.memberlog.apply`); the
    pairs settled take the answer as their latest event; their groups leave ``reread``.
    """
    pairs = sorted(
        p for p in log.tied if again.get(p[0]) == TIE and p[0] in group_ids and members.get(p[1])
    )
    if not pairs:
        return log
    calls = [{"groupKey": group_ids[g], "memberKey": str(members[m])} for g, m in pairs]
    bodies = await fetch_each(source, MEMBER, calls, lenient=True)
    latest = dict(log.latest)
    unsure: set[str] = set()
    for pair, call, body in zip(pairs, calls, bodies, strict=True):
        if body is None:  # 404: not a direct member
            latest[pair] = (latest[pair][0], False)
        elif isinstance(body, dict) and str(body.get("id")) == call["memberKey"]:
            latest[pair] = (latest[pair][0], True)
        else:  # failed, or someone else: the listing says
            unsure.add(pair[0])
    done = {group for group, _ in pairs} - unsure
    if not done:
        return log
    count = sum(1 for group, _ in pairs if group in done)
    source.stats.extra[STAT] = source.stats.extra.get(STAT, 0) + count
    return replace(
        log,
        latest={p: latest[p] if p[0] in done else log.latest[p] for p in log.latest},
        reread={g: why for g, why in log.reread.items() if g not in done},
        tied={p for p in log.tied if p[0] not in done},
    )
