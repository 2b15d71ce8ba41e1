"""What makes a benchmark result reproducible: provenance, load, core pinning, median and range.

- :func:`provenance`: the commit, whether the tree was clean, package versions, the emulator
  profile and the seed, recorded with every IdP's results.
- :class:`LoadSampler`: samples ``/proc/loadavg`` and ``/proc/stat`` every second during a sync
  and reports the share of the machine other processes used (everything busy minus this
  harness, its children and the emulator), so runs beside other load can be flagged.
- :func:`pinning`: the emulator and the sync on separate cores (``taskset``) where there are at
  least two and ``taskset`` exists; the plan is recorded either way.
- :func:`aggregate`: several runs of the same measurement become one row with the median and
  the range (min, max) of every timed field.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import threading
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = (
    "idpsync", "httpx", "msgraph-sdk", "okta", "python-keycloak", "google-api-python-client",
    "onelogin",
)  # fmt: skip
TIMED = ("wall_s", "rss_mib", "store_s", "fetch_s", "requests_log", "requests_stats")
"""Fields of a result row that vary between runs (median kept, range recorded)."""
OTHER_LOAD_FLAG = 0.2
"""A run is flagged when other processes kept this share of all CPUs busy (or more)."""


DOCS = "docs"
"""Where the harness writes (results files and pages): changes there leave a tree clean."""


def provenance(root: Path, profile: dict[str, Any], seed: int) -> dict[str, Any]:
    """Commit, clean/dirty tree (tracked files outside ``docs/``), package versions, emulator
    profile and seed."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    # the harness rewrites docs/ (the generated results and page) after each IdP: a change there
    # is no change to the code that runs, so it does not make the next IdP's tree dirty
    status = git("status", "--porcelain", "--untracked-files=no", "--", ".", f":(exclude){DOCS}")
    return {
        "commit": git("rev-parse", "--short=12", "HEAD") or None,
        "clean": status == "" if git("rev-parse", "HEAD") else None,
        "versions": versions,
        "profile": profile,
        "seed": seed,
    }


def _busy_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from ``/proc/stat``."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def _proc_jiffies(pid: int) -> int:
    """utime + stime (+ waited-for children) of ``pid`` from ``/proc/<pid>/stat``; 0 if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = text.rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15])


class LoadSampler:
    """Every second: the 1-minute load average; at the end, the share of other processes."""

    def __init__(self, watched: Iterable[int] = (), interval_s: float = 1.0) -> None:
        self.watched = [os.getpid(), *watched]
        self.interval_s = interval_s
        self.loads: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._start: tuple[int, int, int] = (0, 0, 0)

    def _ours(self) -> int:
        return sum(_proc_jiffies(pid) for pid in self.watched)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.loads.append(os.getloadavg()[0])
            self._stop.wait(self.interval_s)

    def __enter__(self) -> LoadSampler:
        self._start = (*_busy_jiffies(), self._ours())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        busy, total = _busy_jiffies()
        self.result = other_share(self._start, (busy, total, self._ours()))

    def summary(self) -> dict[str, Any]:
        """``load_max``, ``load_mean``, ``other_busy`` and ``loaded`` for a result row."""
        loads = self.loads or [os.getloadavg()[0]]
        share = getattr(self, "result", 0.0)
        return {
            "load": round(max(loads), 2),
            "load_mean": round(statistics.fmean(loads), 2),
            "other_busy": round(share, 3),
            "loaded": share >= OTHER_LOAD_FLAG,
        }


def other_share(start: tuple[int, int, int], end: tuple[int, int, int]) -> float:
    """Share of all CPU time that went to processes other than ours between two samples of
    (busy jiffies, total jiffies, our jiffies)."""
    total = end[1] - start[1]
    if total <= 0:
        return 0.0
    others = (end[0] - start[0]) - (end[2] - start[2])
    return min(1.0, max(0.0, others / total))


def pinning(cpus: Sequence[int] | None = None) -> dict[str, Any]:
    """Where the emulator and the sync run: separate cores with ``taskset`` when possible."""
    available = sorted(cpus if cpus is not None else os.sched_getaffinity(0))
    taskset = shutil.which("taskset")
    if len(available) < 2 or not taskset:
        why = "fewer than two CPUs" if len(available) < 2 else "taskset not found"
        return {"pinned": False, "why": why, "emulator": [], "sync": []}
    return {"pinned": True, "emulator": available[:1], "sync": available[1:]}


def pin_prefix(plan: dict[str, Any], role: str) -> list[str]:
    """``taskset -c …`` for ``role`` (``emulator`` or ``sync``) under ``plan``; [] unpinned."""
    if not plan.get("pinned") or not plan.get(role):
        return []
    return ["taskset", "-c", ",".join(str(c) for c in plan[role])]


def median_range(values: Sequence[float | int | None]) -> tuple[float | None, list[float]]:
    """The median and [min, max] of the present values; (None, []) when there are none."""
    present = [float(v) for v in values if v is not None]
    if not present:
        return None, []
    return statistics.median(present), [min(present), max(present)]


def aggregate(runs: Sequence[Sequence[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per measurement from several runs' rows (same order in every run): the timed
    fields are medians with ``<field>_range`` and ``<field>_runs``; the rest is the first run's;
    ``loaded`` if any run was; ``runs`` the count."""
    if not runs:
        return []
    rows: list[dict[str, Any]] = []
    for same in zip(*runs, strict=False):  # every run yields the same rows in order
        row = dict(same[0])
        for key in TIMED:
            values = [r.get(key) for r in same]
            med, span = median_range(values)
            if med is None:
                continue
            whole = all(isinstance(v, int) for v in values if v is not None)
            row[key] = round(med) if whole and med == int(med) else round(med, 2)
            row[f"{key}_range"] = span
            row[f"{key}_runs"] = values
        row["runs"] = len(same)
        row["loaded"] = any(r.get("loaded") for r in same)
        row["load"] = max(float(r.get("load") or 0) for r in same)
        row["other_busy"] = max(float(r.get("other_busy") or 0) for r in same)
        if "throttled_log" in row:
            row["throttled_log"] = max((r.get("throttled_log") or 0) for r in same)
        rows.append(row)
    return rows
