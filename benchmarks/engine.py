"""``python -m benchmarks.engine --users N --groups G --store sqlite|postgresql``: the engine alone.

Builds a :class:`~idpsync.model.Snapshot` in-process from the seeded tenant generator (no
network, no emulator) and runs it through :func:`idpsync.app.runner.run_sync`, the path
``idpsync sync`` takes after its fetch: stage, plan, guard, apply. First into an empty store,
then again after 1 % of the users were changed and 1 % of the memberships replaced (the tenant
is built again and changed in place, as the next ``idpsync sync`` reads anew: a run lets its
snapshot's edges go once staged, and the benchmark holds one snapshot, and no tenant, while
it runs; with ``--delta`` not even that: only the delta), read whole or, with
``--delta``, as the complete delta an incremental IdP would report (the incremental path:
staged in place and planned against the changed objects, ``app/incremental.py``; with
``--full-plan``, either is planned whole as before, for comparison; a full read with few changes
is planned incrementally too, from what staging changed). Prints the run's per-phase
seconds and the process's peak RSS, and the peak RSS per phase (tenant; each run's read,
stage, plan and apply) sampled by :class:`benchmarks.rss.RssSampler` (``--trace N`` also prints
the RSS every N seconds). ``--medium-every`` sets how many memberships the tenant has: XL
(``--users 1000000 --groups 50000``) needs 320 for ≈10M.

With ``--generate`` the first run reads the tenant as it is generated (:class:`Generated`:
no snapshot is built beforehand, each group's edges are streamed into the stage as drawn),
as a streaming connector reads; ``--stream`` hands a prebuilt snapshot's edges over in
pieces instead (:class:`StreamedPrebuilt`). Either way the 1 % run's change is made on a
prebuilt tenant (the "change" phase).

The store is a temporary SQLite file or a throwaway PostgreSQL database (created and dropped
on the server at ``--pg``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import random
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks.rss import MIB, RssSampler, rss_bytes
from idpsync.app import incremental
from idpsync.app.runner import run_sync
from idpsync.config import ConnectorSettings
from idpsync.emulators.generate import TenantSpec, generate_streamed, generate_tenant
from idpsync.emulators.tenant import Tenant, TenantUser
from idpsync.model import EdgeList, MemberKind, Membership, Snapshot, SourceGroup, SourceUser
from idpsync.sources.base import DeltaResult, EdgeSink, Event, Progress, Source, no_progress
from idpsync.sources.registry import preset
from idpsync.store import Store

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PHASES = ("stage_seconds", "plan_seconds", "apply_seconds")


class Prebuilt(Source):
    """A source that hands out a snapshot (or, with ``delta``, a delta) built beforehand.

    It saves a state after each read, so the next run may read a delta (``--delta``).
    """

    type = "file"

    def __init__(self, snap: Snapshot, delta: DeltaResult | None = None) -> None:
        super().__init__()
        self._snap = snap
        self._delta = delta

    def wants_full(self, state: dict[str, Any]) -> bool:
        return self._delta is None

    async def snapshot(self, progress: Progress = no_progress) -> Snapshot:
        self.saved_state = {"read": "full"}
        return self._snap

    async def delta(
        self, state: dict[str, Any], staged: Snapshot, progress: Progress = no_progress
    ) -> DeltaResult | None:
        return self._delta


class StreamedPrebuilt(Prebuilt):
    """A prebuilt snapshot read as a streaming source reads (``--stream``): its edges handed to
    the runner's sink in pieces of :data:`PIECE` (a group listing's worth), the snapshot left
    without them; the writes into the stream's table count as the read's time."""

    streams_edges = True

    async def snapshot_to(self, sink: EdgeSink, progress: Progress = no_progress) -> Snapshot:
        snap = await self.snapshot(progress)
        edges = snap.memberships
        for start in range(0, len(edges), PIECE):
            sink.edges(edges[i] for i in range(start, min(start + PIECE, len(edges))))
        snap.memberships = EdgeList()
        return snap


PIECE = 1000
"""Edges handed over at a time by :class:`StreamedPrebuilt` and :class:`Generated`."""


class Generated(Prebuilt):
    """The generated tenant read as a streaming source reads it (``--generate``): nothing of it
    is built before the read; its groups are drawn one at a time (:func:`generate_streamed`)
    and each one's user edges handed to the runner's sink as drawn, then let go; the nested
    groups' edges follow once every group is drawn. The same tenant as :func:`snapshot` with
    the same seed (the same users, groups and edges; edges to other objects left out); what
    the read holds at its end is what a connector that streams its edges holds: the users'
    and groups' records, and the generator's own user list until it returns."""

    def __init__(self, spec: TenantSpec) -> None:
        super().__init__(Snapshot())
        self.spec = spec
        self.edges = 0
        """Edges handed over by the last read."""

    streams_edges = True

    async def snapshot_to(self, sink: EdgeSink, progress: Progress = no_progress) -> Snapshot:
        self.saved_state = {"read": "full"}
        tenant, drawn = generate_streamed(self.spec)
        tenant.by_login.clear()
        users = [to_user(tenant, u) for u in tenant.users.values()]
        self.edges = 0
        for group in drawn:
            members, group.members = list(group.members), {}
            for start in range(0, len(members), PIECE):
                piece = members[start : start + PIECE]
                sink.edges(Membership(group.id, m, MemberKind.USER) for m in piece)
            self.edges += len(members)
        for group in tenant.groups.values():  # the nesting: only child groups are left
            sink.edges(Membership(group.id, m, MemberKind.GROUP) for m in group.members)
            self.edges += len(group.members)
        groups = [SourceGroup(g.id, g.name, g.description) for g in tenant.groups.values()]
        return Snapshot(users, groups)


def to_user(tenant: Tenant, user: TenantUser) -> SourceUser:
    """The tenant user as a source would normalise it (Entra-like attributes)."""
    login = tenant.login(user)
    return SourceUser(
        source_id=user.id,
        login=login,
        email=user.mail,
        display_name=user.display_name,
        given_name=user.given_name,
        family_name=user.surname,
        active=user.enabled,
        manager_id=user.manager_id,
        photo_ref=f"v{user.photo_version}" if user.photo_version else None,
        attributes={
            "userPrincipalName": login,
            "jobTitle": user.job_title,
            "department": user.department,
            "employeeId": user.employee_id,
            "userType": "Guest" if user.guest else "Member",
        },
    )


def snapshot(users: int, groups: int, seed: int, medium_every: int = 32) -> Snapshot:
    """The generated tenant as a complete snapshot (edges to other objects left out).

    The tenant is dropped before this returns (only the snapshot is kept); its members are
    emptied group by group as their edges are made, so the two are never both held whole.
    ``medium_every`` is the generator's (one group in this many holds 2–8 % of the users):
    32 gives about 10 edges a user at 100k users / 5k groups, and 320 at 1M / 50k (XL, ≈10M).
    """
    spec = TenantSpec(users=users, groups=groups, seed=seed, medium_every=medium_every)
    tenant = generate_tenant(spec)
    tenant.member_of.clear()  # the reverse index: not needed for the snapshot
    tenant.by_login.clear()
    snap = Snapshot(
        [to_user(tenant, u) for u in tenant.users.values()],
        [SourceGroup(g.id, g.name, g.description) for g in tenant.groups.values()],
    )
    edges = snap.memberships
    for gid, group in tenant.groups.items():
        for member in group.members:
            if member in tenant.users:
                edges.append(Membership(gid, member, MemberKind.USER))
            elif member in tenant.groups:
                edges.append(Membership(gid, member, MemberKind.GROUP))
        group.members = {}
    del tenant
    gc.collect()
    return snap


def change(snap: Snapshot, share: float, seed: int) -> DeltaResult:
    """Rename ``share`` of the users and replace ``share`` of the memberships, in place.

    No set of all edges is built: the new edges are drawn first, and one pass over the
    edges finds the drawn ones that already exist (a set the size of the change). Returns the
    change as the complete delta an incremental IdP would report.
    """
    rng = random.Random(seed)
    users = snap.users
    delta = DeltaResult(state={"read": "delta"})
    for i in rng.sample(range(len(users)), int(len(users) * share)):
        users[i] = replace(users[i], display_name=f"{users[i].display_name} (changed)")
        delta.users.append(users[i])
    edges = snap.memberships
    count = int(len(edges) * share)
    dropped = set(rng.sample(range(len(edges)), count))
    group_ids = [g.source_id for g in snap.groups]
    fresh: dict[Membership, None] = {}
    while len(fresh) < count:
        drawn = {
            Membership(rng.choice(group_ids), rng.choice(users).source_id, MemberKind.USER): None
            for _ in range(2 * (count - len(fresh)) + 16)
        }
        taken = {e for e in edges if e in drawn} | fresh.keys()
        fresh.update((e, None) for e in drawn if e not in taken)
    delta.removed = [e for i, e in enumerate(edges) if i in dropped]
    snap.memberships = EdgeList(e for i, e in enumerate(edges) if i not in dropped)
    delta.added = list(fresh)[:count]
    snap.memberships.extend(delta.added)
    return delta


def changed(snap: Snapshot, share: float, seed: int) -> Snapshot:
    """A copy of ``snap`` changed by :func:`change` (``snap`` itself is left as it is)."""
    other = Snapshot(list(snap.users), list(snap.groups), EdgeList(snap.memberships))
    change(other, share, seed)
    return other


@contextmanager
def open_store(kind: str, pg: str) -> Iterator[Store]:
    """A fresh store: a temporary SQLite file, or a throwaway PostgreSQL database."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            store = Store.open(f"sqlite:///{Path(tmp) / 'directory.db'}")
            try:
                yield store
            finally:
                store.close()
        return
    admin = sa.create_engine(pg, isolation_level="AUTOCOMMIT")
    name = f"idpsync_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    store = Store.open(pg.rsplit("/", 1)[0] + f"/{name}")
    try:
        yield store
    finally:
        store.close()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def peak_rss_mib() -> float:
    """The process's peak resident set size so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """User and system CPU time of this process (wall time suffers on a shared machine)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def file_sizes(db: Path) -> str:
    """The SQLite file's size and its WAL's (the WAL keeps its largest size after a checkpoint)."""
    wal = db.with_name(db.name + "-wal")
    sizes = [p.stat().st_size / 1e6 if p.exists() else 0.0 for p in (db, wal)]
    return f"files: database {sizes[0]:.0f} MB, WAL {sizes[1]:.0f} MB"


def sync(
    store: Store,
    settings: ConnectorSettings,
    snap: Snapshot | Source,
    label: str,
    rss: RssSampler,
    delta: DeltaResult | None = None,
    stream: bool = False,
) -> None:
    """One run of ``snap`` (or ``delta``), its phases printed (their peak RSS kept by ``rss``).

    ``stream``: a full read's edges are streamed into the stage (:class:`StreamedPrebuilt`).
    ``snap`` may be a source instead (:class:`Generated`), read as it is.
    """
    rss.run_label = label
    rss.enter(f"{label} read")
    start, cpu = time.perf_counter(), cpu_seconds()
    marks: dict[str, float] = {}  # the process's CPU clock when each phase began

    def progress(event: Event) -> None:
        marks.setdefault(event.phase, cpu_seconds())
        rss.progress(event)

    source = (
        snap
        if isinstance(snap, Source)
        else (StreamedPrebuilt if stream else Prebuilt)(snap, delta)
    )
    result = asyncio.run(run_sync(store, "bench", settings, source, progress=progress))
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    if result.status != "succeeded":
        raise SystemExit(f"{label}: run {result.status}: {result.message}")
    phases = [float(result.stats.get(p, 0.0)) for p in PHASES]
    changes, fetch = sum(result.summary().values()), float(result.stats.get("fetch_seconds", 0))
    print(
        f"{label:<7} stage {phases[0]:7.2f} s  plan {phases[1]:7.2f} s  apply {phases[2]:7.2f} s"
        f"  = {sum(phases):7.2f} s  (run {wall:.2f} s, CPU {cpu:.2f} s, {changes} changes,"
        f" peak RSS {peak_rss_mib():.0f} MiB)",
        flush=True,
    )
    read = result.stats.get("read", "")
    print(f"        read {read}: {fetch:.2f} s; planned {result.stats.get('planned')}", flush=True)
    around = sum(float(result.stats.get(k, 0.0)) for k in ("check_seconds", "record_seconds"))
    rest = wall - fetch - sum(phases) - around  # SQLite: mostly the commit, its checkpoint
    print(f"        outside read and phases: guards, record {around:.2f} s; rest {rest:.2f} s")
    if store.dialect == "sqlite" and store.engine.url.database:
        print(f"        {file_sizes(Path(store.engine.url.database))}", flush=True)
    order = [phase for phase in ("stage", "plan", "apply", "done") if phase in marks]
    spent = [f"{a} {marks[b] - marks[a]:.2f}" for a, b in itertools.pairwise(order)]
    print(f"        CPU s by phase: {', '.join(spent)} (plan includes the guards)", flush=True)


PRESETS = ("entra", "okta", "onelogin", "keycloak", "google")
"""Source types whose preset templates ``--preset`` maps the users through."""


def bench_settings(kind: str) -> ConnectorSettings:
    """A file connector's settings whose mapping is ``kind``'s preset (``file``: none).

    The preset's templates are set as the policy's mapping: the same templates the connector
    of that type would use, without its source settings (the benchmark reads no IdP).
    """
    mapping = dict(preset(kind)) if kind != "file" else {}
    return ConnectorSettings.model_validate(
        {"source": {"type": "file", "path": "unused"}, "policy": {"mapping": mapping}}
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.engine", description=__doc__)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=500)
    parser.add_argument(
        "--medium-every",
        type=int,
        default=32,
        help="one group in this many holds 2-8 %% of the users (XL: 320 for ~10 edges a user)",
    )
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pg", default=PG, help="PostgreSQL admin URL for the throwaway database")
    parser.add_argument(
        "--preset",
        choices=("file", *PRESETS),
        default="file",
        help="map the users through this source type's preset templates (attributes Entra-like:"
        " other presets fall back to the normalised values, as a user without them does)",
    )
    parser.add_argument("--trace", type=float, default=0.0, help="print the RSS every N seconds")
    parser.add_argument(
        "--delta",
        action="store_true",
        help="feed the 1 %% change as a complete delta (an incremental read), not a full snapshot",
    )
    parser.add_argument(
        "--full-plan",
        action="store_true",
        help="plan the 1 %% run (delta or full read) against the whole tenant, as before",
    )
    parser.add_argument(
        "--stream",
        action="store_true",
        help="stream full reads' edges into the stage during the read (idpsync.store.stream)",
    )
    parser.add_argument(
        "--generate",
        action="store_true",
        help="the first run reads the tenant as it is generated, its edges streamed group by"
        " group into the stage (no snapshot built beforehand; implies --stream)",
    )
    args = parser.parse_args(argv)
    args.stream = args.stream or args.generate
    if args.full_plan:
        incremental.ENABLED = False

    with RssSampler(trace=args.trace) as rss:
        rss.enter("tenant")
        start = time.perf_counter()
        spec = TenantSpec(args.users, args.groups, seed=args.seed, medium_every=args.medium_every)
        first: Snapshot | Source = Generated(spec)
        if not args.generate:
            first = snapshot(args.users, args.groups, args.seed, args.medium_every)
            print(
                f"tenant: {len(first.users)} users, {len(first.groups)} groups, "
                f"{len(first.memberships)} memberships (built in"
                f" {time.perf_counter() - start:.1f} s, peak RSS {peak_rss_mib():.0f} MiB,"
                f" now {rss_bytes() / MIB:.0f} MiB); store {args.store}, preset {args.preset}",
                flush=True,
            )
        else:
            print(f"tenant generated during the first read; store {args.store}", flush=True)
        settings = bench_settings(args.preset)
        with open_store(args.store, args.pg) as store:
            sync(store, settings, first, "initial", rss, stream=args.stream)
            if isinstance(first, Generated):
                print(f"        generated {first.edges} memberships", flush=True)
            del first  # its edges and users are gone (the run let them go): the next reads anew
            rss.enter("change")
            gc.collect()
            snap = snapshot(args.users, args.groups, args.seed, args.medium_every)
            delta = change(snap, 0.01, args.seed + 1)  # in place: one snapshot held, not two
            if args.delta:  # an incremental sync holds the delta it read, no whole snapshot
                snap = Snapshot()
            gc.collect()
            sync(store, settings, snap, "1 %", rss, delta if args.delta else None, args.stream)
    print(f"peak RSS {peak_rss_mib():.0f} MiB; by phase (sampled):\n{rss.table()}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
