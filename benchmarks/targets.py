"""Issue #20's targets at L as a table filled from a results file: ✓ met, ✗ missed and by how much.

Every target is a ratio measured in the same run (SQLite rows):

- full sync ≤ 1.25 × the API floor;
- requests ≤ 1.1 × the API minimum (round trips);
- zero 429s (the full sync, paced);
- an incremental sync after the 1 % change ≤ 15 s end to end (IdPs with a change feed);
- ≥ 10 × faster than the group-centric official-SDK script, ≥ 2 × faster than the plain-HTTP
  script (baselines in the results file's ``baselines`` with the ``idp``, a ``kind`` or
  ``name`` holding the words ``sdk``, ``group``, ``centric`` / ``plain``, ``http``, and a
  measured ``wall_s``; the extrapolated naive baseline does not count). A baseline stopped at
  its time cap gives a lower bound: ``✓ > N ×`` when even that bound meets the target,
  ``? > N ×`` (undecided) when it does not.
"""

from __future__ import annotations

from typing import Any

IDPS = ("entra", "google", "keycloak", "okta", "onelogin")
FULL_RATIO = 1.25
REQUEST_RATIO = 1.1
INCREMENTAL_S = 15.0
SDK_SPEEDUP = 10.0
PLAIN_SPEEDUP = 2.0


def at_most(value: float | None, limit: float, text: str) -> str:
    """``✓ text`` when ``value ≤ limit``, else ``✗ text`` and how far over; a dash if unknown."""
    if value is None:
        return "–"
    if value <= limit:
        return f"✓ {text}"
    return f"✗ {text}, {(value / limit - 1) * 100:.0f} % over" if limit else f"✗ {text}"


def at_least(value: float | None, limit: float, text: str) -> str:
    """``✓ text`` when ``value ≥ limit``, else ``✗ text`` and how far short; a dash if unknown."""
    if value is None:
        return "–"
    if value >= limit:
        return f"✓ {text}"
    return f"✗ {text}, {(1 - value / limit) * 100:.0f} % short"


def _rows(result: dict[str, Any], idp: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The IdP's SQLite full row and the SQLite row after the change."""
    mine = [r for r in result.get("rows", []) if r["idp"] == idp and r["store"] == "sqlite"]
    full = next((r for r in mine if r["kind"] == "full"), None)
    after = next((r for r in mine if r["kind"] != "full"), None)
    return full, after


def _baseline_wall(
    result: dict[str, Any], idp: str, kind: str
) -> tuple[tuple[float, bool], float | None] | None:
    """A measured baseline's wall time, whether it is a lower bound (the run stopped at its
    time cap), and idpsync's full sync of the run it was measured in when recorded
    (``idpsync_wall_s``): its ``kind`` (or ``name``) holds every word of ``kind``
    (``group-sdk``, ``plain-http``, as :mod:`benchmarks.baselines` names them); extrapolated
    baselines (no ``wall_s``) and baselines that read less than the tenant or failed do not
    count."""
    words = kind.split("-")
    for b in result.get("baselines", []):
        label = str(b.get("kind") or b.get("name") or "").lower()
        stopped = bool(b.get("stopped"))
        whole = str(b.get("verdict", "complete")).startswith("complete")  # read everything
        ours = b.get("idp") == idp and all(w in label for w in words)
        if ours and b.get("wall_s") and (whole or stopped):
            return (float(b["wall_s"]), stopped), b.get("idpsync_wall_s")
    return None


def speed_cell(theirs: tuple[float, bool] | None, wall: float | None, want: float) -> str:
    """The speed-up target cell: baseline wall / idpsync's wall against ``want``; for a capped
    baseline a lower bound, met (``✓ >``) or undecided (``? >``), never a miss."""
    if theirs is None or not wall:
        return "–"
    seconds, capped = theirs
    speed = seconds / wall
    if not capped:
        return at_least(speed, want, f"{speed:.1f} × ({seconds:.0f} s / {wall:.0f} s)")
    text = f"> {speed:.1f} × (capped at > {seconds:.0f} s / {wall:.0f} s)"
    return f"✓ {text}" if speed >= want else f"? {text}: undecided"


def cells(result: dict[str, Any], idp: str) -> list[str]:
    """The six target cells of one IdP."""
    full, after = _rows(result, idp)
    if full is None:
        return ["–"] * 6
    wall = full.get("wall_s")
    floor = full.get("api_floor_s")
    out = [
        at_most(
            wall / floor if wall and floor else None,
            FULL_RATIO,
            f"{wall / floor:.2f} × ({wall:.0f} s / {floor:.0f} s)" if wall and floor else "",
        )
    ]
    req, low = full.get("requests_log") or full.get("requests_stats"), full.get("api_minimum")
    out.append(
        at_most(req / low if req and low else None, REQUEST_RATIO, f"{(req or 0) / (low or 1):.2f}")
    )
    throttled = full.get("throttled_log")
    out.append(at_most(throttled, 0, str(throttled)) if throttled is not None else "–")
    if after is None:
        out.append("–")
    elif after.get("mode") == "full":
        out.append(f"– (no change feed used: full read, {after.get('wall_s')} s)")
    else:
        w = after.get("wall_s")
        out.append(at_most(w, INCREMENTAL_S, f"{w} s") if w is not None else "–")
    for kind, want in (("group-sdk", SDK_SPEEDUP), ("plain-http", PLAIN_SPEEDUP)):
        found = _baseline_wall(result, idp, kind)
        theirs, same_run = found if found else (None, None)
        out.append(speed_cell(theirs, same_run or wall, want))
    return out


def table(result: dict[str, Any]) -> str:
    """The targets table (one column per IdP) of a size's results."""
    titles = (
        f"full sync ≤ {FULL_RATIO} × API floor",
        f"requests ≤ {REQUEST_RATIO} × API minimum",
        "429s = 0",
        f"incremental after 1 % ≤ {INCREMENTAL_S:.0f} s",
        f"≥ {SDK_SPEEDUP:.0f} × the group-centric SDK script",
        f"≥ {PLAIN_SPEEDUP:.0f} × the plain-HTTP script",
    )
    columns = {idp: cells(result, idp) for idp in IDPS}
    lines = [
        f"### Targets of issue #20 (size {result.get('size')}, SQLite)",
        "",
        "| target | " + " | ".join(IDPS) + " |",
        "|---|" + "---|" * len(IDPS),
    ]
    for i, title in enumerate(titles):
        lines.append(f"| {title} | " + " | ".join(columns[idp][i] for idp in IDPS) + " |")
    return "\n".join(lines)
