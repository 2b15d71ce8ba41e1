"""Out-of-process pieces of a benchmark: the emulator, the sync under ``/usr/bin/time -v``.

Each emulator runs as ``idpsync emulate <idp> --port 0 --print-config …`` in its own process;
its printed ``export NAME='value'`` line becomes the sync's environment and the rest (the
connector block) goes into a temporary ``idpsync.toml``.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

EXPORT = re.compile(r"^export (\w+)='(.*)'$")
LISTEN = re.compile(r" at (http://[\d.]+:\d+)")
IDPSYNC = [sys.executable, "-m", "idpsync.cli"]


@dataclass
class Emulator:
    """A running emulator process, its base URL, connector block and secret environment."""

    proc: subprocess.Popen[str]
    base: str
    block: str
    env: dict[str, str] = field(default_factory=dict)
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=300))

    def stop(self) -> None:
        """Terminate the emulator process."""
        self.http.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()

    def control(self, path: str, body: Any = None) -> Any:
        """Call a ``/_emulator/…`` route (GET without a body, POST with one); None on 404."""
        url = f"{self.base}/_emulator/{path}"
        r = self.http.get(url) if body is None else self.http.post(url, json=body)
        return None if r.status_code == 404 else r.json()


def start_emulator(idp: str, args: list[str], prefix: Sequence[str] = ()) -> Emulator:
    """Start ``idpsync emulate idp args`` (behind ``prefix``, e.g. ``taskset -c 0``); return
    once it prints where it listens."""
    proc = subprocess.Popen(
        [*prefix, *IDPSYNC, "emulate", idp, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "400"},
    )
    assert proc.stderr is not None and proc.stdout is not None
    banner = ""
    while not (found := LISTEN.search(banner)):
        line = proc.stderr.readline()
        if not line:
            raise RuntimeError(f"emulate {idp} exited: {proc.wait()}")
        banner += line
    time.sleep(0.3)  # the connector block is flushed right after the banner
    os.set_blocking(proc.stdout.fileno(), False)
    printed = proc.stdout.read() or ""
    env: dict[str, str] = {}
    block: list[str] = []
    for line in printed.splitlines():
        if m := EXPORT.match(line.strip()):
            env[m.group(1)] = m.group(2)
        else:
            block.append(line)
    return Emulator(proc, found.group(1), "\n".join(block).strip(), env)


def connector_name(block: str) -> str:
    """The connector's name in a printed ``[connectors.NAME…]`` block."""
    m = re.search(r"^\[connectors\.([\w-]+)", block, re.M)
    if not m:
        raise ValueError(f"no [connectors.…] table in the printed block:\n{block}")
    return m.group(1)


def write_config(
    directory: Path, store_url: str, block: str, concurrency: int, source: Sequence[str] = ()
) -> Path:
    """An ``idpsync.toml`` with the store, the emulator's block and the benchmark concurrency.

    ``source``: more ``key = value`` lines for the connector's ``source`` table (a mode the
    benchmark turns on, such as Google's ``incremental = "reports"``), put right under its
    header so they belong to that table.
    """
    name = connector_name(block)
    path = directory / "idpsync.toml"
    header = f"[connectors.{name}.source]\n"
    if source:
        if header not in block:
            raise ValueError(f"no {header.strip()} table in the printed block:\n{block}")
        block = block.replace(header, header + "".join(f"{line}\n" for line in source), 1)
    http = f"[connectors.{name}.source.http]\nconcurrency = {concurrency}\n"
    path.write_text(f'[store]\nurl = "{store_url}"\n\n{block}\n\n{http}', encoding="utf-8")
    return path


@dataclass
class SyncRun:
    """One timed ``idpsync sync`` process."""

    wall_s: float
    rss_mib: float
    returncode: int
    run: dict[str, Any]


def timed_sync(
    config: Path, connector: str, env: dict[str, str], prefix: Sequence[str] = ()
) -> SyncRun:
    """Run ``idpsync sync`` under ``/usr/bin/time -v`` (behind ``prefix``, e.g. ``taskset -c
    1``); read its run row with ``runs --json``."""
    full_env = {**os.environ, **env}
    started = time.perf_counter()
    done = subprocess.run(
        [*prefix, "/usr/bin/time", "-v", *IDPSYNC, "sync", connector, "--config", str(config)],
        capture_output=True,
        text=True,
        env=full_env,
    )
    wall = time.perf_counter() - started
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    rss = int(m.group(1)) / 1024 if m else float("nan")
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-2000:] + done.stderr[-2000:])
    runs = subprocess.run(
        [*IDPSYNC, "runs", connector, "--limit", "1", "--json", "--config", str(config)],
        capture_output=True,
        text=True,
        env={**full_env, "COLUMNS": "100000"},
        check=True,
    )
    rows = json.loads(runs.stdout)
    return SyncRun(wall, rss, done.returncode, rows[0] if rows else {})


def request_log(emu: Emulator) -> tuple[int, int] | None:
    """(API requests, 429s) from the emulator's request log, emptied after; None without one."""
    entries = emu.control("requests?clear=1")
    if entries is None:
        return None
    return len(entries), sum(1 for e in entries if e.get("status") == 429)


def change_one_percent(emu: Emulator, users: list[str], edges: list[tuple[str, str]]) -> int:
    """Rename 1 % of users and move 1 % of memberships through the control routes."""
    rng = random.Random(13)
    done = 0
    for uid in rng.sample(users, max(1, len(users) // 100)):
        r = emu.control("tenant/update_user", {"user_id": uid, "display_name": f"Renamed {uid}"})
        done += bool(r and r.get("ok"))
    groups = sorted({g for g, _ in edges})
    for gid, member in rng.sample(edges, max(1, len(edges) // 100)):
        emu.control("tenant/remove_member", {"group_id": gid, "member_id": member})
        other = rng.choice(groups)
        r = emu.control("tenant/add_member", {"group_id": other, "member_id": member})
        done += bool(r and r.get("ok"))
    return done


def change_one_percent_onelogin(
    emu: Emulator, users: list[int], assignments: list[tuple[int, int]], roles: list[int]
) -> int:
    """OneLogin: rename 1 % of users and move 1 % of role assignments to another role."""
    rng = random.Random(13)
    done = 0
    for uid in rng.sample(users, max(1, len(users) // 100)):
        r = emu.control("account/update_user", {"user_id": uid, "firstname": f"Renamed{uid}"})
        done += bool(r and r.get("ok"))
    for role, uid in rng.sample(assignments, max(1, len(assignments) // 100)):
        emu.control("account/remove_role", {"user_id": uid, "role_id": role})
        r = emu.control("account/assign_role", {"user_id": uid, "role_id": rng.choice(roles)})
        done += bool(r and r.get("ok"))
    return done
