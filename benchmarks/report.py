"""Rendering of benchmark results: the markdown table, the machine line, the page and the plot."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

from benchmarks import repro, targets

STORE_KEYS = ("stage_seconds", "plan_seconds", "apply_seconds")
"""Run stats that count as time spent in the store (no network)."""

COLUMNS = (
    ("IdP", "idp"), ("store", "store"), ("run", "kind"), ("users", "users"),
    ("memberships", "memberships"), ("status", "status"), ("runs", "runs"),
    ("wall s, median (range)", "wall"),
    ("requests (stats / emulator log)", "requests"), ("API min (quota units)", "api_min"),
    ("design min", "minimum"), ("requests / API min", "api_req_ratio"),
    ("requests / design min", "req_ratio"), ("429s", "throttled_log"),
    ("API floor s (quota / chain / cap)", "api_floor"),
    ("design floor s (quota / latency)", "floor"),
    ("wall / API floor", "api_floor_ratio"), ("wall / design floor", "floor_ratio"),
    ("wall − floor s", "over_floor"),
    ("peak RSS MiB", "rss_mib"), ("store s", "store_s"), ("load max / others busy", "load"),
)  # fmt: skip
"""The table's columns; a row from before API floors, runs and load sampling shows dashes."""


def ratio(a: float | None, b: float | None) -> str:
    """``a / b`` to two decimals, or a dash when either is missing or ``b`` is zero."""
    if a is None or not b:
        return "–"
    return f"{a / b:.2f}"


def sent(row: dict[str, Any]) -> Any:
    """Requests the sync sent: the emulator's count, else the connector's."""
    return row.get("requests_log") or row.get("requests_stats")


def cell(row: dict[str, Any], key: str) -> str:
    """One table cell of a result row (derived columns computed here)."""
    full = row.get("kind") == "full"
    if key == "requests":
        return f"{_dash(row.get('requests_stats'))} / {_dash(row.get('requests_log'))}"
    if key == "wall":
        span = row.get("wall_s_range")
        if not span or span[0] == span[1]:
            return _dash(row.get("wall_s"))
        return f"{row['wall_s']} ({span[0]}–{span[1]})"
    if key == "api_min":
        if row.get("api_minimum") is None:
            return "–"
        units = row.get("api_units")
        extra = f" ({units})" if units is not None and units != row["api_minimum"] else ""
        return f"{row['api_minimum']}{extra}"
    if key == "api_req_ratio":
        return ratio(sent(row), row.get("api_minimum")) if full else "–"
    if key == "req_ratio":
        return ratio(sent(row), row.get("minimum"))
    if key == "api_floor":
        if row.get("api_floor_s") is None:
            return "–"
        return (
            f"{row['api_floor_s']} ({row['api_quota_s']} / {row['api_chain_s']} / "
            f"{row['api_cap_s']} at {row.get('api_cap', '?')})"
        )
    if key == "floor":
        return f"{row['floor_s']} ({row['quota_floor_s']} / {row['latency_floor_s']})"
    if key == "api_floor_ratio":
        return ratio(row.get("wall_s"), row.get("api_floor_s")) if full else "–"
    if key == "floor_ratio":
        return ratio(row.get("wall_s"), row.get("floor_s")) if full else "–"
    if key == "over_floor":
        if full or row.get("wall_s") is None:
            return "–"
        return f"{row['wall_s'] - row['floor_s']:.1f}"
    if key == "load":
        busy = row.get("other_busy")
        text = _dash(row.get("load"))
        if busy is not None:
            text += f" / {busy * 100:.0f} %"
        return text + (" ⚠ loaded" if row.get("loaded") else "")
    return _dash(row.get(key))


def _dash(value: Any) -> str:
    return "–" if value is None else str(value)


def render_table(rows: list[dict[str, Any]]) -> str:
    """A markdown table of result rows, one line per sync."""
    head = "| " + " | ".join(title for title, _ in COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in COLUMNS) + "|"
    body = ["| " + " | ".join(cell(r, k) for _, k in COLUMNS) + " |" for r in rows]
    return "\n".join([head, rule, *body])


def machine() -> dict[str, Any]:
    """CPU count, memory, CPU model and the load average now."""
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kib = int(Path("/proc/meminfo").read_text(encoding="utf-8").split()[1])
    return {
        "nproc": os.cpu_count(), "memory_gib": round(mem_kib / 2**20, 1), "cpu": model,
        "python": platform.python_version(), "load": [round(x, 2) for x in os.getloadavg()],
    }  # fmt: skip


def provenance_line(run: dict[str, Any]) -> str:
    """Commit, tree state, versions, seed, runs and pinning of one IdP's run, as one line."""
    p = run["provenance"]
    tree = {True: "clean", False: "**dirty**"}.get(p.get("clean"), "unknown tree")
    versions = ", ".join(f"{k} {v}" for k, v in (p.get("versions") or {}).items() if v)
    prof = p.get("profile") or {}
    pins = run.get("pinning") or {}
    if pins.get("pinned"):
        cpus = {k: ",".join(str(c) for c in pins[k]) for k in ("emulator", "sync")}
        pinned = f"emulator on CPU {cpus['emulator']}, sync on CPU {cpus['sync']}"
    else:
        pinned = f"not pinned ({pins.get('why', 'unknown')})"
    tail = " ".join(str(x) for x in prof.get("tail") or []) or "no tail"
    return (
        f"Commit {p.get('commit') or '?'} ({tree}); seed {p.get('seed')}; "
        f"{run.get('runs', 1)} run(s), median (range); {pinned}. Profile: latency "
        f"{prof.get('latency_ms')} ms ({tail}), quota {prof.get('quota')}, sync concurrency "
        f"{prof.get('concurrency')}, API-floor cap {prof.get('api_cap')}. Versions: {versions}."
    )


def machine_line(m: dict[str, Any]) -> str:
    """The machine as one sentence."""
    return (
        f"{m['nproc']} CPUs ({m['cpu']}), {m['memory_gib']} GiB memory, Python {m['python']}, "
        f"load average {' / '.join(str(x) for x in m['load'])} (1/5/15 min) at the end"
    )


def merge(
    old: dict[str, Any] | None,
    size: str,
    idp: str,
    rows: list[dict[str, Any]],
    baselines: list[dict[str, Any]] | None,
    command: str,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A size's results with ``idp``'s rows (and the baselines run) replaced; others kept.

    ``meta`` (provenance, pinning, runs) is recorded with the IdP's run."""
    old = old or {"size": size, "rows": []}
    runs = dict(old.get("idps") or {})
    if not runs and old.get("rows"):  # a file written before per-IdP merging
        for r in old["rows"]:
            runs[r["idp"]] = {"date": old["date"], "command": old["command"]}
            runs[r["idp"]]["machine"] = old["machine"]
    runs[idp] = {
        "date": rows[0]["date"] if rows else "",
        "command": command,
        "machine": machine(),
        **(meta or {}),
    }
    kept = [r for r in old.get("rows", []) if r["idp"] != idp]
    # baselines not run this time are kept until re-measured, each with idpsync's full sync of
    # the run it was measured in (its speed-up is a same-run ratio, never against a later run)
    earlier = [stamped(b, old.get("rows", [])) for b in old.get("baselines", [])]
    bases = merge_baselines(earlier, idp, [stamped(b, rows) for b in baselines or []])
    order = list(runs)
    return {
        "size": size,
        "idps": runs,
        "rows": sorted([*kept, *rows], key=lambda r: order.index(r["idp"])),
        "baselines": bases,
    }


def full_wall(rows: list[dict[str, Any]], idp: str) -> float | None:
    """idpsync's full-sync wall time into SQLite for ``idp`` among ``rows`` (None if absent)."""
    walls = [
        r["wall_s"]
        for r in rows
        if r["idp"] == idp and r["kind"] == "full" and r["store"] == "sqlite"
    ]
    return walls[0] if walls else None


def stamped(b: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """``b`` with ``idpsync_wall_s``, idpsync's full sync of the run it was measured in, taken
    from that run's ``rows`` when not recorded yet."""
    if b.get("idpsync_wall_s") is not None or not b.get("kind"):
        return b
    wall = full_wall(rows, str(b.get("idp")))
    return b if wall is None else {**b, "idpsync_wall_s": wall}


def merge_baselines(
    old: list[dict[str, Any]], idp: str, new: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``old`` baseline records with ``idp``'s re-measured kinds replaced by ``new``; an
    extrapolated record of the old harness (no ``kind``) goes as soon as ``idp`` is re-run."""
    if not new:
        return old
    kinds = {b["kind"] for b in new}
    kept = [b for b in old if b.get("idp") != idp or (b.get("kind") and b["kind"] not in kinds)]
    return [*kept, *new]


def section(result: dict[str, Any]) -> str:
    """The page section of one size's results file."""
    lines = [f"## Size {result['size']}", ""]
    for idp, run in (result.get("idps") or {}).items():
        loads = [r["load"] for r in result["rows"] if r["idp"] == idp] or [0.0]
        lines.append(
            f"- **{idp}**: {run['date']}, `{run['command']}`; {machine_line(run['machine'])}"
        )
        if run.get("note"):
            lines.append(f"  Note: {run['note']}.")
        if run.get("provenance"):
            lines.append(f"  {provenance_line(run)}")
        if max(loads) >= (run["machine"]["nproc"] or 1):
            lines.append(
                f"  **The load average reached {max(loads)} on {run['machine']['nproc']} CPUs "
                "during this IdP's runs: the machine was shared and loaded, so its wall times "
                "and store seconds are pessimistic.**"
            )
    if any(r.get("loaded") for r in result["rows"]):
        lines.append(
            "- Rows marked **⚠ loaded**: other processes kept at least "
            f"{repro.OTHER_LOAD_FLAG:.0%} of the CPUs busy during at least one run."
        )
    lines += ["", render_table(result["rows"]), ""]
    if result.get("size") == "L":
        lines += [targets.table(result), ""]
    if any(b.get("kind") for b in result.get("baselines") or []):
        lines += [baseline_section(result["baselines"], result["rows"]), ""]
    return "\n".join(lines)


def write_docs(out: Path, page: Path) -> None:
    """Regenerate ``docs/benchmarks.md`` (intro kept above the marker) and the plot."""
    results = [
        json.loads(p.read_text(encoding="utf-8")) for p in sorted(out.glob("results-*.json"))
    ]
    marker = "<!-- generated by benchmarks/run.py below; do not edit -->"
    intro = (
        page.read_text(encoding="utf-8").split(marker)[0] if page.exists() else "# Benchmarks\n\n"
    )
    body = "\n".join(section(r) for r in results)
    if plot(results, out / "wall-vs-size.png"):
        body += "\n![wall time vs tenant size](benchmarks/wall-vs-size.png)\n"
    page.write_text(f"{intro.rstrip()}\n\n{marker}\n\n{body}", encoding="utf-8")


def plot_points(results: list[dict[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    """Full-sync SQLite wall times by IdP, as (users, seconds) sorted by size."""
    points: dict[str, list[tuple[int, float]]] = {}
    for result in results:
        for r in result["rows"]:
            if r["kind"] == "full" and r["store"] == "sqlite":
                points.setdefault(r["idp"], []).append((r["users"], r["wall_s"]))
    return {idp: sorted(p) for idp, p in points.items()}


def plot(results: list[dict[str, Any]], path: Path) -> bool:
    """Draw wall time vs tenant size per IdP (log-log); False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(6, 4))
    for idp, pts in plot_points(results).items():
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=idp)
    ax.set(xscale="log", yscale="log", xlabel="users", ylabel="full sync wall time (s), SQLite")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


BASELINE_INTRO = (
    "Each baseline runs whole against the same emulator, after idpsync's syncs of the IdP "
    "in the same run (designs: `docs/benchmarks.md`, `benchmarks/baselines/`). Every "
    "baseline stops at its time cap (naive: `--naive-cap`; the others: `--cap`): its wall "
    "time and speed-up are then measured lower bounds (`>`) and its verdict says how far it "
    "got. Counts are users / groups / user memberships read; a baseline that read less than "
    "the tenant holds is flagged and its speed-up bracketed. A baseline kept from an "
    "earlier run of its IdP is compared with idpsync's full sync of that run (the idpsync "
    "column), never with a later one."
)
FRESH_NOTE = (
    "Baselines marked † ran against a fresh emulator each (same seed and profile, the tenant "
    "before the 1 % change): the IdP's quota is an hourly account-wide budget that idpsync's "
    "syncs of the run had spent."
)


def baseline_section(baselines: list[dict[str, Any]], rows: list[dict[str, Any]]) -> str:
    """The measured baselines and idpsync's speed-up over each (same run, same emulator)."""
    lines = [
        "### Baselines: official SDKs and plain HTTP, measured whole", "", BASELINE_INTRO, "",
        "| IdP | baseline | design | wall s | CPU s | requests (emulator log) | 429s "
        "| read (users / groups / memberships) | verdict | idpsync full sync s (SQLite) "
        "| speed-up |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    if any(b.get("emulator") == "fresh" for b in baselines):
        lines[2] += " " + FRESH_NOTE
    for b in baselines:
        if not b.get("kind"):
            continue  # an extrapolated record of the old harness: not published any more
        mine = b.get("idpsync_wall_s") or full_wall(rows, str(b.get("idp")))
        lines.append(
            f"| {b['idp']} | {b['kind']}{' †' if b.get('emulator') == 'fresh' else ''} "
            f"| {b['design']} | {_baseline_wall(b)} "
            f"| {_dash(b.get('cpu_s'))} | {_dash(b.get('requests_log'))} "
            f"| {_dash(b.get('throttled_log'))} | {b['users']} / {b['groups']} / "
            f"{b['memberships']} | {_verdict(b)} | {_dash(mine)} | {speed_up(b, mine)} |"
        )
    return "\n".join(lines)


def _baseline_wall(b: dict[str, Any]) -> str:
    return f"> {b['wall_s']}" if b.get("stopped") else str(b["wall_s"])


def _verdict(b: dict[str, Any]) -> str:
    text = str(b.get("verdict", "–"))
    return text if text == "complete" or b.get("stopped") else f"**{text}**"


def speed_up(b: dict[str, Any], ours: float | None) -> str:
    """Baseline wall / idpsync's full-sync wall: a lower bound (``>``) for a capped run,
    bracketed for a baseline that read less or failed, a dash without both figures."""
    if not ours or b.get("wall_s") is None:
        return "–"
    value = f"{b['wall_s'] / ours:.1f}×"
    if b.get("stopped"):
        return f"> {value}"
    if b.get("verdict") != "complete":
        return f"({value}, read less)" if "read less" in str(b.get("verdict")) else "–"
    return value
