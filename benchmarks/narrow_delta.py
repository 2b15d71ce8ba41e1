"""``python -m benchmarks.narrow_delta --users N --groups G``: OneLogin's and Okta's delta builds.

Stages the generated tenant of :mod:`benchmarks.engine` (as :mod:`benchmarks.mirror` does, less
its group-in-group edges: Okta and OneLogin groups hold users only), takes
a 1 % change from it (every 100th user's record changed; for Okta also 20 groups with one member
added and one removed, as System Log events), and builds each source's delta from the staged
mirror two ways, each in a forked child (:func:`benchmarks.mirror.measure`: wall and CPU
seconds, then Python's peak allocation by ``tracemalloc`` in a second child):

- OneLogin before: the changed users' old edges found by walking every staged edge; after:
  ``edges_of_members`` of the changed users (then ``build_delta``, the same both ways);
- Okta before: the whole mirror rebuilt with the change merged in (every user, every edge) and
  diffed by ``delta_between``; after: ``okta.delta.build_delta`` from the change.

Only the delta build is measured: the network reads around it are the same both ways.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import replace

from benchmarks.engine import open_store, snapshot
from benchmarks.mirror import measure, tenant_arguments
from idpsync.model import EdgeList, MemberKind, Membership, Snapshot, SourceUser
from idpsync.sources.base import DeltaResult, delta_between
from idpsync.sources.okta.delta import DEPROVISIONED, Found, Users, build_delta
from idpsync.sources.onelogin import delta as onelogin

CHANGED: list[SourceUser] = []
"""The changed users' new records (set in the parent before the children fork)."""
EDGES: list[Membership] = []
"""The changed users' edges as the change leaves them (OneLogin's read)."""
EVENTS: list[tuple[str, str, bool]] = []
"""The System Log's membership events (Okta's read)."""


def onelogin_before(staged: Snapshot) -> DeltaResult:
    snap = Snapshot(list(CHANGED), list(staged.groups), EdgeList(EDGES))
    walked = Snapshot([], staged.groups, staged.memberships)  # edges_of_members walks them all
    return onelogin.build_delta(walked, snap, {})


def onelogin_after(staged: Snapshot) -> DeltaResult:
    snap = Snapshot(list(CHANGED), list(staged.groups), EdgeList(EDGES))
    return onelogin.build_delta(staged, snap, {})


def okta_before(staged: Snapshot) -> DeltaResult:
    users = {u.source_id: u for u in staged.users}
    users.update((u.source_id, u) for u in CHANGED)
    users = {k: u for k, u in users.items() if u.attributes.get("status") != DEPROVISIONED}
    groups = list(staged.groups)
    pairs = {(m.group_id, m.member_id) for m in staged.memberships}
    for gid, uid, added in EVENTS:
        (pairs.add if added else pairs.discard)((gid, uid))
    merged = Snapshot(
        list(users.values()), groups, EdgeList(sorted(Membership(g, u) for g, u in pairs))
    )
    return delta_between(staged, merged, {})


def okta_after(staged: Snapshot) -> DeltaResult:
    snap = Snapshot(list(CHANGED))
    asked = {uid for _, uid, added in EVENTS if added}
    snap.groups = list(staged.groups)
    found = Found(snap, Users(staged, snap.users, False, asked), set(staged.group_ids()))
    found.log_edges = list(EVENTS)
    return build_delta(staged, found, {})


WAYS: dict[str, Callable[[Snapshot], DeltaResult]] = {
    "OneLogin, before": onelogin_before,
    "OneLogin, after": onelogin_after,
    "Okta, before": okta_before,
    "Okta, after": okta_after,
}


def listed(build: Callable[[Snapshot], DeltaResult]) -> Callable[[Snapshot], list[DeltaResult]]:
    """``build`` answering a list (``measure`` reports the answer's length)."""
    return lambda staged: [build(staged)]


def take_change(snap: Snapshot) -> None:
    """Fill :data:`CHANGED`, :data:`EDGES` and :data:`EVENTS` from the staged snapshot."""
    CHANGED.extend(
        replace(u, attributes={**u.attributes, "jobTitle": "Changed"}) for u in snap.users[::100]
    )
    changed = {u.source_id for u in CHANGED}
    kept = [e for e in snap.memberships if e.member_id in changed]
    EDGES.extend(kept[1:])  # one membership of a changed user removed
    members: dict[str, set[str]] = {}
    for e in snap.memberships:
        members.setdefault(e.group_id, set()).add(e.member_id)
    ids = [u.source_id for u in snap.users]
    for index, (gid, inside) in enumerate(sorted(members.items())[:20]):
        outsider = next((u for u in ids[index * 7 :] if u not in inside), None)
        if outsider is not None:  # (a small tenant may run out)
            EVENTS.extend([(gid, outsider, True), (gid, min(inside), False)])


def main(argv: list[str] | None = None) -> None:
    args = tenant_arguments("python -m benchmarks.narrow_delta", __doc__).parse_args(argv)
    with open_store(args.store, args.pg) as store:
        snap = snapshot(args.users, args.groups, 0, args.medium_every)
        snap.memberships = EdgeList(e for e in snap.memberships if e.member_kind is MemberKind.USER)
        run_id = store.start_run("bench", "full", False)
        with store.transaction() as conn:
            store.ensure_connector(conn, "bench", "file")
            store.write_stage(conn, "bench", snap, run_id)
        print(f"staged {len(snap.users)} users, {len(snap.memberships)} edges ({args.store})")
        take_change(snap)
        del snap
        gc.collect()
        url = store.engine.url.render_as_string(hide_password=False)
        store.engine.dispose()  # no pooled connection is inherited by a child
        for name, read in WAYS.items():
            wall, cpu, _, _ = measure(url, listed(read), traced=False)
            peak = measure(url, listed(read), traced=True)[2]
            print(f"{name:<17} {wall:6.2f} s  CPU {cpu:6.2f} s  allocated {peak:7.1f} MiB")


if __name__ == "__main__":
    main()
