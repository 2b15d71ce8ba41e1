"""``python -m benchmarks.run --size S --idp okta,google``: run, record, write docs/benchmarks.md.

For every IdP: start its emulator in its own process (latency profile and rate-limit model of
:mod:`benchmarks.profiles`), sync it into SQLite and into a throwaway PostgreSQL database with
``idpsync sync`` under ``/usr/bin/time -v``, change 1 % of users and memberships through the
emulator's control routes, and sync both stores again (an incremental read where the connector
has one: Entra delta, Okta and OneLogin change marks; a full read for Google and Keycloak). Then
the fair baselines of :mod:`benchmarks.baselines` (``--baselines naive,group-sdk,plain-http``,
``--no-baseline`` for none) run whole against the same emulator (OneLogin: each against a
fresh one, :data:`benchmarks.baselines.FRESH`), each up to its time cap (``--naive-cap``,
``--cap``).

Each IdP is measured ``--runs N`` times (default 3; a fresh emulator each run) and its rows
hold the median and range (:mod:`benchmarks.repro`); the load is sampled during every sync, the
emulator and the sync run on separate cores where possible, and the commit, tree state, package
versions, emulator profile and seed are recorded. Full-sync rows carry both the connector's
design floor (:mod:`benchmarks.profiles`) and the API floor (:mod:`benchmarks.floors`).

The results of the IdPs run replace their earlier rows in ``docs/benchmarks/results-<size>.json``;
other IdPs' rows are kept, so IdPs can be measured one at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg

from benchmarks import floors, process, report, repro
from benchmarks.entra_ways import entra_shape
from benchmarks.floors import nesting_depth
from benchmarks.profiles import PROFILES, SIZES, Profile, Shape, Size, roles_for

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(os.environ.get("IDPSYNC_BENCH_OUT") or ROOT / "docs" / "benchmarks")
"""Where the results files go (``$IDPSYNC_BENCH_OUT``, e.g. to keep a checkout's docs clean)."""
PG = "postgresql://postgres@127.0.0.1:5432/postgres"


class Tenant:
    """What the harness knows of an emulated tenant: its shape and how to change 1 % of it."""

    def __init__(self, shape: Shape, change: Any) -> None:
        self.shape = shape
        self._change = change

    def change_one_percent(self, emu: process.Emulator) -> int:
        """Apply the 1 % change through the emulator's control routes; the count of changes."""
        return int(self._change(emu))


def tenant_for(idp: str, size: Size, seed: int) -> Tenant:
    """The emulated tenant (regenerated in-process with the same seed) and its 1 % change."""
    if idp == "onelogin":
        return _onelogin_tenant(size, seed)
    from idpsync.emulators.generate import TenantSpec, generate_tenant

    spec = TenantSpec(users=size.users, groups=size.groups, seed=seed)
    spec = replace(spec, medium_every=size.medium_every)
    if idp == "okta":
        spec = replace(spec, domain="example.okta.test")
    truth = generate_tenant(spec).ground_truth()
    users_only = idp in ("okta", "keycloak")
    members = [  # in the emulators' listing order (by id, as Graph lists objects)
        sum(1 for m in truth.groups[gid].members if not users_only or m in truth.users)
        for gid in sorted(truth.groups)
    ]
    edges = sorted(e for e in truth.memberships if e[1] in truth.users)
    users = sorted(truth.users)
    parts: list[int] = []
    if idp == "okta":  # status partitions (the emulator: ACTIVE, or SUSPENDED if disabled)
        parts = list(Counter(u.enabled for u in truth.users.values()).values())
    nested = {(g, m) for g, m in truth.memberships if m in truth.groups}
    shape = Shape(size.users, size.groups, members, user_parts=parts)
    if idp == "entra":  # userPrincipalName partitions; memberships from the members' side
        aliases = {uid: u.alias for uid, u in truth.users.items()}
        shape = entra_shape(shape, aliases, truth.memberships, sorted(truth.groups))
    if idp == "keycloak":
        shape = replace(shape, parents=len({g for g, _ in nested}), depth=nesting_depth(nested))
    return Tenant(
        shape,
        lambda emu: process.change_one_percent(emu, users, edges),
    )


def _onelogin_tenant(size: Size, seed: int) -> Tenant:
    """OneLogin's account: one group per user and 0–3 roles, embedded in the user records."""
    from idpsync.emulators.onelogin.account import generate_account

    roles = roles_for(size)
    truth = generate_account(size.users, size.groups, roles, seed).truth()
    assignments = sorted(truth.role_members())
    edges = len(truth.group_members()) + len(assignments)
    return Tenant(
        Shape(size.users, size.groups, [edges], roles=roles),
        lambda emu: process.change_one_percent_onelogin(
            emu, sorted(truth.users), assignments, sorted(truth.roles)
        ),
    )


def one_sync(
    emu: process.Emulator,
    profile: Profile,
    shape: Shape,
    store: str,
    config: Path,
    label: str,
    pins: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Time one sync (load sampled meanwhile) and collect its counters into a result row."""
    name = process.connector_name(emu.block)
    process.request_log(emu)  # empty the log before the run
    with repro.LoadSampler([emu.proc.pid]) as sampler:
        sync = process.timed_sync(config, name, emu.env, repro.pin_prefix(pins or {}, "sync"))
    logged = process.request_log(emu)
    stats = sync.run.get("stats") or {}
    quota, lat = profile.floors(shape)
    sent = (logged[0] if logged else None) or stats.get("requests") or 0
    mode = str(sync.run.get("mode") or "?")
    row: dict[str, Any] = {
        "idp": profile.idp,
        "store": store,
        "kind": label if label == "full" else f"{mode} {label}",
        "mode": mode,
        "read": stats.get("read"),
        "users": shape.users,
        "groups": shape.groups,
        "memberships": sum(shape.members),
        "status": sync.run.get("status", f"exit {sync.returncode}"),
        "wall_s": round(sync.wall_s, 2),
        "rss_mib": round(sync.rss_mib, 1),
        "requests_stats": stats.get("requests"),
        "requests_log": logged[0] if logged else None,
        "throttled_log": logged[1] if logged else None,
        "throttled_stats": stats.get("throttled"),
        "minimum": profile.minimum(shape),
        "quota_floor_s": round(quota, 1),
        "latency_floor_s": round(lat, 1),
        "floor_s": round(max(quota, lat), 1),
        "store_s": round(sum(float(stats.get(k) or 0) for k in report.STORE_KEYS), 2),
        "fetch_s": stats.get("fetch_seconds"),
        "summary": sync.run.get("summary"),
        **sampler.summary(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    if label == "full":
        row |= floors.api_floor(profile, shape).fields()
    else:
        chain = 1
        if profile.idp == "okta":
            chain = floors.okta_incremental_chain(stats)
        elif profile.idp == "entra":
            chain = floors.entra_incremental_chain(stats, shape.groups)
        quota, lat = profile.incremental_floor(int(sent), chain)
        row |= {"quota_floor_s": round(quota, 1), "latency_floor_s": round(lat, 1)}
        row["floor_s"] = round(max(quota, lat), 1)
    return row


def run_idp(
    idp: str,
    size_name: str,
    seed: int,
    stores: list[str],
    baselines: list[str],
    runs: int = 1,
    naive_cap: float = 300.0,
    cap: float = 3600.0,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """Every measurement for one IdP at one size, ``runs`` times (a fresh emulator each time),
    as median rows; the asked baselines (after the last run's syncs) and the run's provenance."""
    profile = PROFILES[idp]
    size = SIZES[size_name]
    tenant = tenant_for(idp, size, seed)
    pins = repro.pinning()
    # recorded before the runs: the commit and tree state of the code that runs
    recorded = repro.provenance(ROOT, profile_record(profile, size, seed), seed)
    every: list[list[dict[str, Any]]] = []
    bases: list[dict[str, Any]] = []
    for n in range(1, runs + 1):
        asked = baselines if n == runs else []  # the baselines once, after the last run
        caps = (naive_cap, cap)
        rows, got = run_once(idp, size_name, seed, stores, asked, caps, tenant, pins, n)
        every.append(rows)
        bases = got or bases
    meta = {
        "provenance": recorded,
        "pinning": pins,
        "runs": runs,
    }
    return repro.aggregate(every), bases, meta


def profile_record(profile: Profile, size: Size, seed: int) -> dict[str, Any]:
    """The emulator profile of a result: latency, tail, quotas, concurrencies, cost model."""
    return {
        "emulator_args": profile.emulator_args(size, seed),
        "latency_ms": profile.latency_ms,
        "tail": list(profile.tail_flags),
        "quota": profile.quota_note,
        "concurrency": profile.concurrency,
        "api_cap": profile.api_cap,
        "okta_tier": profile.okta_tier or None,
        "row_cost_us": profile.row_cost_us,
        "offset_cost_us": profile.offset_cost_us,
    }


def run_once(
    idp: str,
    size_name: str,
    seed: int,
    stores: list[str],
    baselines: list[str],
    caps: tuple[float, float],
    tenant: Tenant,
    pins: dict[str, Any],
    n: int,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One run: a fresh emulator, full syncs, the 1 % change, the syncs after it, then the
    asked baselines against the same emulator."""
    profile = PROFILES[idp]
    size = SIZES[size_name]
    args = profile.emulator_args(size, seed)
    emu = process.start_emulator(idp, args, repro.pin_prefix(pins, "emulator"))
    rows: list[dict[str, Any]] = []
    bases: list[dict[str, Any]] = []
    try:
        from benchmarks.baselines import edges_now

        edges_before = edges_now(emu) if baselines else 0  # before the 1 % change
        with tempfile.TemporaryDirectory(prefix=f"bench-{idp}-") as tmp:
            configs = {s: _config(Path(tmp), s, idp, emu, profile) for s in stores}
            for store, config in configs.items():
                print(f"[bench] {idp} {size_name} run {n}: full sync into {store}", flush=True)
                rows.append(one_sync(emu, profile, tenant.shape, store, config, "full", pins))
            changed = tenant.change_one_percent(emu)
            label = f"sync after 1 % change ({changed} changes)"
            for store, config in configs.items():
                print(f"[bench] {idp} {size_name} run {n}: {label} into {store}", flush=True)
                rows.append(one_sync(emu, profile, tenant.shape, store, config, label, pins))
        if baselines:
            prefix = repro.pin_prefix(pins, "emulator")
            bases = _baselines(idp, emu, size_name, seed, baselines, caps, edges_before, prefix)
    finally:
        emu.stop()
        for store in stores:
            if store == "postgresql":
                _drop_db(_db_name(idp))
    return rows, bases


def _baselines(
    idp: str,
    emu: process.Emulator,
    size_name: str,
    seed: int,
    kinds: list[str],
    caps: tuple[float, float],
    edges_before: int,
    prefix: list[str] | None = None,
) -> list[dict[str, Any]]:
    """The baselines against the changed tenant, checked against its truth now; for an IdP
    with an hourly budget (:data:`benchmarks.baselines.FRESH`) each against a fresh emulator
    of the same seed and profile, checked against the tenant before the change. ``caps``:
    the naive one's, the others'."""
    from benchmarks.baselines import FRESH, after_change, edges_now, expected, run_baselines

    size = SIZES[size_name]
    truth = expected(idp, size.users, size.groups, seed, size.medium_every, roles_for(size))
    fresh = None
    if idp in FRESH:
        args = PROFILES[idp].emulator_args(size, seed)
        fresh = lambda: process.start_emulator(idp, args, prefix or [])  # noqa: E731
    else:
        truth = after_change(truth, edges_before, edges_now(emu))
    naive_cap, other_cap = caps
    return run_baselines(
        idp, emu, kinds, cap_s=naive_cap, truth=truth, size=size_name,
        other_cap_s=other_cap, fresh=fresh,
    )  # fmt: skip


def _db_name(idp: str) -> str:
    return f"idpsync_bench_{idp}_{os.getpid()}"


def _drop_db(name: str) -> None:
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _config(tmp: Path, store: str, idp: str, emu: process.Emulator, profile: Profile) -> Path:
    directory = tmp / store
    directory.mkdir()
    if store == "sqlite":
        url = f"sqlite:///{directory / 'idpsync.db'}"
    else:
        name = _db_name(idp)
        _drop_db(name)
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    return process.write_config(
        directory, url, emu.block, profile.concurrency, profile.source_settings
    )


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run the benchmarks, merge the results and write the docs page."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--size", default="S", choices=sorted(SIZES))
    parser.add_argument("--idp", default="entra,google,keycloak,okta,onelogin")
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--baselines",
        default="naive,group-sdk,plain-http",
        help="Baselines run after idpsync's syncs of each IdP (benchmarks/baselines).",
    )
    parser.add_argument("--no-baseline", action="store_true", help="Run no baseline.")
    parser.add_argument(
        "--naive-cap", type=float, default=300.0, help="Seconds a naive baseline may take."
    )
    parser.add_argument(
        "--cap",
        type=float,
        default=3600.0,
        help="Seconds a group-sdk or plain-http baseline may take (then a lower bound).",
    )
    parser.add_argument(
        "--runs", type=int, default=3, help="Runs per IdP; the table gives median and range."
    )
    parser.add_argument(
        "--backfill-floors",
        action="store_true",
        help="Run nothing: add API floors to the size's recorded full-sync rows that lack them.",
    )
    opts = parser.parse_args(argv)
    from benchmarks.baselines import parse_kinds

    try:
        kinds = [] if opts.no_baseline else parse_kinds(opts.baselines)
    except ValueError as exc:
        parser.error(str(exc))
    OUT.mkdir(parents=True, exist_ok=True)
    if opts.backfill_floors:
        path = OUT / f"results-{opts.size}.json"
        old = _read(path)
        if old is None:
            parser.error(f"no results file {path}")
        filled = backfill_floors(old, opts.seed)
        path.write_text(json.dumps(old, indent=1), encoding="utf-8")
        report.write_docs(OUT, OUT.parent / "benchmarks.md")
        print(f"API floors added to {filled} rows of {path}")
        return
    command = "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:])
    for idp in (x.strip() for x in opts.idp.split(",")):
        if idp not in PROFILES:
            parser.error(f"unknown IdP {idp!r}; choose from {', '.join(PROFILES)}")
        if opts.runs < 1:
            parser.error("--runs must be at least 1")
        rows, bases, meta = run_idp(
            idp,
            opts.size,
            opts.seed,
            opts.stores.split(","),
            kinds,
            opts.runs,
            opts.naive_cap,
            opts.cap,
        )
        path = OUT / f"results-{opts.size}.json"
        merged = report.merge(_read(path), opts.size, idp, rows, bases, command.strip(), meta)
        path.write_text(json.dumps(merged, indent=1), encoding="utf-8")
        report.write_docs(OUT, OUT.parent / "benchmarks.md")
        print(report.render_table(rows))


def backfill_floors(result: dict[str, Any], seed: int) -> int:
    """Add the API-floor fields to full-sync rows recorded before them (the tenant regenerated
    from the seed, which the harness has always used for both); the count of rows filled."""
    size = SIZES[result["size"]]
    shapes: dict[str, Shape] = {}
    filled = 0
    for row in result.get("rows", []):
        if row.get("kind") != "full" or row.get("api_floor_s") is not None:
            continue
        idp = row["idp"]
        if idp not in shapes:
            shapes[idp] = tenant_for(idp, size, seed).shape
        row |= floors.api_floor(PROFILES[idp], shapes[idp]).fields()
        filled += 1
    return filled


def _read(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


if __name__ == "__main__":
    main()
