"""``python -m benchmarks.trace_incremental onelogin S [--full]``: where a run's time goes.

``--full`` traces the first (full) sync instead, and ``--set 'key = value'`` (repeatable) adds a
line to the connector's ``source`` settings (e.g. ``--set 'reserve = 0.0'`` for Okta); a full
trace also prints, per endpoint, how many requests were asked for in each minute of the read
(what a per-minute bucket let through).

The steps of :mod:`benchmarks.run` for one IdP (its emulator in its own process with the
profile's latency, a full sync into SQLite, the 1 % change through the control routes), then
the incremental ``idpsync sync`` in a child process that times every request
(:func:`traced_sync`): when it was asked for, when the connection got it and when it was
answered. Printed: the start-up (imports), the first request and the last answer, the
requests by endpoint with their span and round-trip times, the most requests in flight, and
the run's own phases (fetch, stage, plan, apply) from its stats, and the CPU seconds of the
sync process and of the emulator process while the sync ran. With ``--full`` the traced run
is the first, full sync itself (no change, no earlier sync). With ``--profile FILE`` the sync
runs under :mod:`cProfile` (its stats go to ``FILE``; the top functions are printed). Nothing
is written to docs. With ``TRACE_EVENTS=FILE`` in the environment the traced run's timeline is
kept there as JSON (each request's ``t``, ``end`` and the sync's CPU seconds ``cpu`` at its
answer): :mod:`benchmarks.rounds_timeline` reads it.
"""

from __future__ import annotations

import cProfile
import itertools
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks import process, run
from benchmarks.profiles import PROFILES, SIZES

PHASES = ("fetch_seconds", "stage_seconds", "plan_seconds", "apply_seconds", "check_seconds")


def traced_sync(out: str, args: list[str], profile: str | None = None) -> None:
    """Run ``idpsync args`` in this process, every request timed; the events go to ``out``.

    With ``profile``, the whole run (imports included) under :mod:`cProfile`, stats there.
    """
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    start = time.perf_counter()
    events: list[dict[str, Any]] = []

    def now() -> float:
        return round(time.perf_counter() - start, 4)

    import idpsync.http.client as client

    send, whole = client.HttpClient._send, client.HttpClient._whole

    async def timed_send(self: client.HttpClient, request: Any) -> Any:
        asked = now()
        try:
            return await send(self, request)
        finally:
            label = request.target.endpoint.label
            cpu = round(time.process_time(), 4)
            events.append({"kind": "request", "label": label, "t": asked, "end": now(), "cpu": cpu})

    async def timed_whole(self: client.HttpClient, request: Any, headers: Any) -> Any:
        sent = now()
        try:
            return await whole(self, request, headers)
        finally:
            cpu = round(time.process_time(), 4)
            events.append({"kind": "wire", "t": sent, "end": now(), "cpu": cpu})

    client.HttpClient._send = timed_send  # type: ignore[method-assign]
    client.HttpClient._whole = timed_whole  # type: ignore[method-assign]
    from idpsync.cli import app

    events.append({"kind": "imported", "t": now()})
    try:
        app(args, standalone_mode=False)
    finally:
        events.append({"kind": "exit", "t": now()})
        if profiler is not None and profile:
            profiler.disable()
            profiler.dump_stats(profile)
        Path(out).write_text(json.dumps(events), encoding="utf-8")


def per_minute(events: list[dict[str, Any]]) -> list[str]:
    """Requests asked for in each minute since the first one, per endpoint."""
    asked = [e for e in events if e["kind"] == "request"]
    if not asked:
        return []
    first = min(e["t"] for e in asked)
    by: dict[str, list[int]] = defaultdict(list)
    for event in asked:
        minute = int((event["t"] - first) // 60)
        counts = by[event["label"]]
        counts.extend([0] * (minute + 1 - len(counts)))
        counts[minute] += 1
    return [f"  {label} per minute: {counts}" for label, counts in by.items()]


def summary(events: list[dict[str, Any]], stats: dict[str, Any]) -> list[str]:
    """The printed breakdown of one traced run."""
    asked = [e for e in events if e["kind"] == "request"]
    wire = [e for e in events if e["kind"] == "wire"]
    marks = {e["kind"]: e["t"] for e in events if e["kind"] in ("imported", "exit")}
    lines = [
        f"start-up (imports) {marks.get('imported', 0):.2f} s; exit {marks.get('exit', 0):.2f} s"
    ]
    if asked:
        first, last = min(e["t"] for e in asked), max(e["end"] for e in asked)
        lines.append(
            f"{len(asked)} requests from {first:.2f} s to {last:.2f} s; "
            f"most in flight {most_in_flight(wire)}"
        )
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in asked:
        by[event["label"]].append(event)
    for label, group in by.items():
        trips = [e["end"] - e["t"] for e in group]
        lines.append(
            f"  {label}: {len(group)}, {min(e['t'] for e in group):.2f}–"
            f"{max(e['end'] for e in group):.2f} s, each {min(trips):.2f}–{max(trips):.2f} s"
            f" (mean {sum(trips) / len(trips):.3f} s){chain_gap(group)}"
        )
    lines.append("  " + ", ".join(f"{k} {stats.get(k)}" for k in PHASES))
    return lines


def chain_gap(group: list[dict[str, Any]]) -> str:
    """For a chain (mostly one request in flight at a time): the mean time from an answer to
    the next ask, the client's own time between pages (overlapping pairs left out); empty when
    most requests overlap (not a chain)."""
    ordered = sorted(group, key=lambda e: e["t"])
    gaps = [b["t"] - a["end"] for a, b in itertools.pairwise(ordered)]
    kept = [g for g in gaps if g >= 0]
    if not kept or len(kept) < 0.8 * len(gaps):
        return ""
    return f", {sum(kept) / len(kept):.3f} s from an answer to the next ask ({len(kept)} gaps)"


def most_in_flight(wire: list[dict[str, Any]]) -> int:
    """The most requests on the wire at once."""
    edges = sorted([(e["t"], 1) for e in wire] + [(e["end"], -1) for e in wire])
    now = most = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a live process has used so far (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    """User + system CPU seconds of this process's waited-for children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def top(profile: str, count: int = 25) -> list[str]:
    """The ``count`` functions with the most cumulative time in a cProfile stats file."""
    import io

    text = io.StringIO()
    stats = pstats.Stats(profile, stream=text)
    stats.sort_stats("cumulative").print_stats(count)
    stats.sort_stats("tottime").print_stats(count)
    return [line for line in text.getvalue().splitlines() if line.strip()]


def trace(
    idp: str,
    size_name: str,
    seed: int = 7,
    stats_to: str | None = None,
    *,
    full: bool = False,
    settings: tuple[str, ...] = (),
) -> list[str]:
    """Emulator, full sync, the 1 % change, the traced incremental sync: its breakdown.

    With ``full``, the traced sync is the first (full) one and nothing is changed."""
    profile, size = PROFILES[idp], SIZES[size_name]
    tenant = run.tenant_for(idp, size, seed)
    emu = process.start_emulator(idp, profile.emulator_args(size, seed))
    try:
        with tempfile.TemporaryDirectory(prefix=f"trace-{idp}-") as tmp:
            directory = Path(tmp)
            config = process.write_config(
                directory,
                f"sqlite:///{directory / 'idpsync.db'}",
                emu.block,
                profile.concurrency,
                (*profile.source_settings, *settings),
            )
            name = process.connector_name(emu.block)
            env = {**os.environ, **emu.env}
            sync = ["sync", name, "--config", str(config)]
            changes = 0
            if not full:
                subprocess.run([*process.IDPSYNC, *sync], env=env, check=True, capture_output=True)
                changes = tenant.change_one_percent(emu)
            process.request_log(emu)
            out = directory / "trace.json"
            me = [sys.executable, "-m", "benchmarks.trace_incremental", "--child", str(out)]
            if stats_to:
                me += ["--profile", stats_to]
            emu_cpu, sync_cpu, wall = cpu_seconds(emu.proc.pid), children_cpu(), time.time()
            load = os.getloadavg()[0]
            subprocess.run([*me, *sync], env=env, check=True, capture_output=True)
            emu_cpu = cpu_seconds(emu.proc.pid) - emu_cpu
            sync_cpu, wall = children_cpu() - sync_cpu, time.time() - wall
            load = max(load, os.getloadavg()[0])
            logged = process.request_log(emu)
            rows = subprocess.run(
                [*process.IDPSYNC, "runs", name, "--limit", "1", "--json", "--config", str(config)],
                env={**env, "COLUMNS": "100000"},
                capture_output=True,
                text=True,
                check=True,
            )
            stats = (json.loads(rows.stdout) or [{}])[0].get("stats") or {}
            events = json.loads(out.read_text(encoding="utf-8"))
            if keep := os.environ.get("TRACE_EVENTS"):  # the timeline, for a closer look
                Path(keep).write_text(json.dumps(events), encoding="utf-8")
    finally:
        emu.stop()
    head = f"{idp} {size_name}: {changes} changes; emulator log {logged}; read {stats.get('read')}"
    what = "full" if full else "incremental"
    cpu = (
        f"{what}: wall {wall:.2f} s, sync CPU {sync_cpu:.2f} s, emulator CPU "
        f"{emu_cpu:.2f} s, load average (1 min) up to {load:.2f}"
    )
    minutes = per_minute(events) if full else []
    extra = ", ".join(f"{k} {v}" for k, v in sorted(stats.items()) if k not in PHASES)
    return [
        head,
        cpu,
        *summary(events, stats),
        f"  stats: {extra}",
        *minutes,
        *(top(stats_to) if stats_to else []),
    ]


def main(argv: list[str]) -> None:
    """``IDP SIZE`` (a trace), or ``--child OUT ARGS…`` (the traced sync itself)."""
    if argv[:1] == ["--child"]:
        if argv[2:3] == ["--profile"]:
            traced_sync(argv[1], argv[4:], argv[3])
        else:
            traced_sync(argv[1], argv[2:])
        return
    profile, full, settings, rest = None, False, [], list(argv)
    while len(rest) > 2:
        flag = rest.pop(2)
        if flag == "--full":
            full = True
        elif flag in ("--profile", "--set") and len(rest) > 2:
            value = rest.pop(2)
            if flag == "--profile":
                profile = str(Path(value).resolve())
            else:
                settings.append(value)
        else:
            rest = []
    if len(rest) != 2 or rest[0] not in PROFILES or rest[1] not in SIZES:
        raise SystemExit(
            f"usage: python -m benchmarks.trace_incremental {{{','.join(PROFILES)}}} S|L"
            " [--full] [--set 'key = value']… [--profile FILE]"
        )
    lines = trace(rest[0], rest[1], stats_to=profile, full=full, settings=tuple(settings))
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
