"""``python -m benchmarks.rounds_timeline EVENTS [--all]``: a traced read's calls in rounds.

``EVENTS`` is the timeline :mod:`benchmarks.trace_incremental` keeps when ``TRACE_EVENTS=FILE``
is set (every request: when it was asked for, when it was answered, and the sync process's CPU
seconds at its answer). Calls asked for within :data:`TOGETHER` seconds of a round's first one
make a round (Entra's ``$batch`` calls go out round by round: ``sources/entra/batch.py``). For
each round: its calls, the fastest and slowest round trip, the gap from its last answer to the
next round's first call (the sync's own work in between), the step (first call to next first
call) and the sync's CPU seconds over the step; then the means by calls per round. Printed only.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOGETHER = 0.05
"""Calls asked for within this many seconds of a round's first call belong to that round."""


@dataclass(frozen=True)
class Round:
    """One round of calls and what followed it until the next round."""

    calls: int
    start: float
    fastest: float
    slowest: float
    gap: float
    """From the round's last answer to the next round's first call."""
    step: float
    """From the round's first call to the next round's first call."""
    cpu: float
    """The sync process's CPU seconds over the step."""


def rounds(events: list[dict[str, Any]], label: str = "$batch") -> list[Round]:
    """The calls whose label holds ``label``, grouped in rounds (module doc)."""
    calls = sorted(
        (e for e in events if e.get("kind") == "request" and label in e["label"]),
        key=lambda e: float(e["t"]),
    )
    groups: list[list[dict[str, Any]]] = []
    for call in calls:
        if groups and call["t"] - groups[-1][0]["t"] <= TOGETHER:
            groups[-1].append(call)
        else:
            groups.append([call])
    out = []
    for n, group in enumerate(groups):
        last = max(e["end"] for e in group)
        after = groups[n + 1][0] if n + 1 < len(groups) else None
        following = after["t"] if after else last
        cpu_end = after["cpu"] if after else max(e.get("cpu", 0.0) for e in group)
        trips = [e["end"] - e["t"] for e in group]
        out.append(
            Round(
                calls=len(group),
                start=group[0]["t"],
                fastest=min(trips),
                slowest=max(trips),
                gap=following - last,
                step=following - group[0]["t"],
                cpu=cpu_end - min(e.get("cpu", 0.0) for e in group),
            )
        )
    return out


def summary(found: list[Round], every: bool = False) -> list[str]:
    """Totals, the means by calls per round and, with ``every``, one line per round."""
    steps, gaps = sum(r.step for r in found), sum(r.gap for r in found)
    lines = [
        f"{sum(r.calls for r in found)} calls in {len(found)} rounds; steps {steps:.1f} s,"
        f" gaps after the last answer {gaps:.1f} s"
    ]
    for size in sorted({min(r.calls, 3) for r in found}):
        some = [r for r in found if min(r.calls, 3) == size]
        mean = {
            k: sum(getattr(r, k) for r in some) / len(some)
            for k in ("step", "slowest", "gap", "cpu")
        }
        more = "+" if size == 3 else ""
        lines.append(
            f"  rounds of {size}{more} calls: {len(some)}, step {mean['step']:.3f} s (slowest"
            f" trip {mean['slowest']:.3f}, gap {mean['gap']:.3f}, sync CPU {mean['cpu']:.3f})"
        )
    if every:
        lines.append("  round calls start fastest slowest gap step cpu")
        lines += [
            f"  {n:5d} {r.calls:5d} {r.start:7.2f} {r.fastest:7.2f} {r.slowest:7.2f} {r.gap:5.2f}"
            f" {r.step:5.2f} {r.cpu:5.2f}"
            for n, r in enumerate(found, 1)
        ]
    return lines


def main(argv: list[str]) -> None:
    """``EVENTS [--all]``."""
    if not argv or argv[0].startswith("-"):
        raise SystemExit("usage: python -m benchmarks.rounds_timeline EVENTS [--all]")
    events = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    print("\n".join(summary(rounds(events), "--all" in argv[1:])))


if __name__ == "__main__":
    main(sys.argv[1:])
