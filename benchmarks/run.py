"""``python -m benchmarks.run --size S --idp okta,google``: run, record, write docs/benchmarks.md.

For every IdP: start its emulator in its own process (latency profile and rate-limit model of
:mod:`benchmarks.profiles`), sync it into SQLite and into a throwaway PostgreSQL database with
``idpsync sync`` under ``/usr/bin/time -v``, change 1 % of users and memberships through the
emulator's control routes, and sync both stores again.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg

from benchmarks import process, report
from benchmarks.profiles import PROFILES, SIZES, Profile, Shape

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "benchmarks"
PG = "postgresql://postgres@127.0.0.1:5432/postgres"


def tenant_shape(idp: str, users: int, groups: int, seed: int, roles: int) -> tuple[Shape, Any]:
    """The emulated tenant's shape (regenerated in-process with the same seed) and its truth."""
    if idp == "onelogin":
        return Shape(users, groups, roles=roles), None
    from idpsync.emulators.generate import TenantSpec, generate_tenant

    spec = TenantSpec(users=users, groups=groups, seed=seed)
    if idp == "okta":
        spec = replace(spec, domain="example.okta.test")
    truth = generate_tenant(spec).ground_truth()
    users_only = idp in ("okta", "keycloak")
    members = [
        sum(1 for m in g.members if not users_only or m in truth.users)
        for g in truth.groups.values()
    ]
    return Shape(users, groups, members), truth


def one_sync(
    emu: process.Emulator, profile: Profile, shape: Shape, store: str, config: Path, label: str
) -> dict[str, Any]:
    """Time one sync and collect its counters into a result row."""
    name = process.connector_name(emu.block)
    process.request_log(emu)  # empty the log before the run
    load_before = os.getloadavg()[0]
    sync = process.timed_sync(config, name, emu.env)
    logged = process.request_log(emu)
    stats = sync.run.get("stats") or {}
    quota, lat = profile.floors(shape)
    return {
        "idp": profile.idp,
        "store": store,
        "kind": label,
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
        "load": round(max(load_before, os.getloadavg()[0]), 2),
    }


def run_idp(idp: str, size: str, seed: int, stores: list[str]) -> list[dict[str, Any]]:
    """Every measurement for one IdP at one size."""
    profile = PROFILES[idp]
    users, groups = SIZES[size]
    roles = max(5, groups // 10)
    shape, truth = tenant_shape(idp, users, groups, seed, roles)
    args = profile.emulator_args(users, groups, seed)
    if idp == "onelogin":
        args += ["--roles", str(roles)]
    emu = process.start_emulator(idp, args)
    rows: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory(prefix=f"bench-{idp}-") as tmp:
            configs = {s: _config(Path(tmp), s, idp, emu, profile) for s in stores}
            for store, config in configs.items():
                print(f"[bench] {idp} {size} full sync into {store}", flush=True)
                rows.append(one_sync(emu, profile, shape, store, config, "full"))
            kind = "second full sync, no changes (no control routes)"
            if truth is not None:
                edges = sorted(e for e in truth.memberships if e[1] in truth.users)
                changed = process.change_one_percent(emu, sorted(truth.users), edges)
                kind = f"full sync after 1 % change ({changed} changes)"
            for store, config in configs.items():
                print(f"[bench] {idp} {size} {kind} into {store}", flush=True)
                rows.append(one_sync(emu, profile, shape, store, config, kind))
    finally:
        emu.stop()
        for store in stores:
            if store == "postgresql":
                _drop_db(_db_name(idp))
    return rows


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
    return process.write_config(directory, url, emu.block, profile.concurrency)


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run the benchmarks, write the results and the docs page."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--size", default="S", choices=sorted(SIZES))
    parser.add_argument("--idp", default="google,keycloak,okta,onelogin")
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--seed", type=int, default=7)
    opts = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rows: list[dict[str, Any]] = []
    for idp in opts.idp.split(","):
        rows += run_idp(idp.strip(), opts.size, opts.seed, opts.stores.split(","))
        _save(opts.size, started, rows, argv)
    print(report.render_table(rows))


def _save(size: str, started: str, rows: list[dict[str, Any]], argv: list[str] | None) -> None:
    """Write the results JSON for this size, then regenerate the page and the plot."""
    command = "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:])
    payload = {
        "size": size,
        "date": started,
        "command": command.strip(),
        "machine": report.machine(),
        "rows": rows,
    }
    (OUT / f"results-{size}.json").write_text(json.dumps(payload, indent=1), encoding="utf-8")
    report.write_docs(OUT, ROOT / "docs" / "benchmarks.md")


if __name__ == "__main__":
    main()
