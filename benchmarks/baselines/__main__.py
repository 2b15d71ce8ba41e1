"""``python -m benchmarks.baselines --idp entra --size S``: the baselines alone.

Starts the IdP's emulator (its own process, the benchmark profile's latency and quotas, the
same seed as ``benchmarks.run``), runs the asked baselines one after the other, prints their
records as JSON lines and, unless ``--no-write``, merges them into
``$IDPSYNC_BENCH_OUT/results-<size>.json`` (``baselines``) and regenerates the page.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks import process, report
from benchmarks.baselines import FRESH, KINDS, expected, parse_kinds, run_baselines
from benchmarks.baselines.common import CAP_S, NAIVE_CAP_S
from benchmarks.profiles import PROFILES, SIZES, roles_for


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, start the emulator, run the baselines, record them."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.baselines", description=__doc__)
    parser.add_argument("--idp", required=True, choices=sorted(PROFILES))
    parser.add_argument("--size", default="S", choices=sorted(SIZES))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--baselines", default=",".join(KINDS), help="Which, or 'all'.")
    parser.add_argument(
        "--naive-cap", type=float, default=NAIVE_CAP_S, help="Seconds a naive run may take."
    )
    parser.add_argument(
        "--cap", type=float, default=CAP_S, help="Seconds a group-sdk or plain-http run may take."
    )
    parser.add_argument("--no-write", action="store_true", help="Print only; keep the files.")
    opts = parser.parse_args(argv)
    try:
        kinds = parse_kinds(opts.baselines)
    except ValueError as exc:
        parser.error(str(exc))
    size = SIZES[opts.size]
    profile = PROFILES[opts.idp]
    truth = expected(
        opts.idp, size.users, size.groups, opts.seed, size.medium_every, roles_for(size)
    )
    args = profile.emulator_args(size, opts.seed)
    emu = process.start_emulator(opts.idp, args)
    fresh = (lambda: process.start_emulator(opts.idp, args)) if opts.idp in FRESH else None
    try:
        records = run_baselines(
            opts.idp,
            emu,
            kinds,
            cap_s=opts.naive_cap,
            truth=truth,
            size=opts.size,
            other_cap_s=opts.cap,
            fresh=fresh,
        )
    finally:
        emu.stop()
    for record in records:
        print(json.dumps(record))
    if not opts.no_write:
        from benchmarks.run import OUT

        write(OUT, opts.size, opts.idp, records)


def write(out: Path, size: str, idp: str, records: list[dict[str, Any]]) -> None:
    """Replace ``idp``'s baselines of these kinds in the size's results and redo the page."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"results-{size}.json"
    old: dict[str, Any] = {"size": size, "rows": []}
    if path.exists():
        old = json.loads(path.read_text("utf-8"))
    old["baselines"] = report.merge_baselines(old.get("baselines", []), idp, records)
    path.write_text(json.dumps(old, indent=1), "utf-8")
    report.write_docs(out, out.parent / "benchmarks.md")


if __name__ == "__main__":
    main(sys.argv[1:])
