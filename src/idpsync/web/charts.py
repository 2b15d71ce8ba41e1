"""Small charts for the dashboard, drawn on the server as inline SVG (no script, no styles).

Colours come from CSS classes in ``style.css`` (``chart-<status>``), so the strict
Content-Security-Policy holds. Every chart has a ``<title>`` and a text summary for screen
readers, and every bar a ``<title>`` of its own (a tooltip on hover).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

WIDTH, HEIGHT = 240, 56
"""The drawing area of a chart, in SVG units (it scales with the page)."""


@dataclass(frozen=True)
class Point:
    """One value of a chart: its value, a tooltip and the CSS class of its colour."""

    value: int
    label: str
    kind: str = "neutral"


def _frame(title: str, summary: str, body: list[str]) -> Markup:
    head = (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'preserveAspectRatio="none" aria-label="{escape(summary)}">'
        f"<title>{escape(title)}: {escape(summary)}</title>"
        f'<line class="chart-axis" x1="0" y1="{HEIGHT - 0.5}" x2="{WIDTH}" y2="{HEIGHT - 0.5}"/>'
    )
    return Markup(head + "".join(body) + "</svg>")


def bars(title: str, points: list[Point]) -> Markup:
    """A bar per point (oldest left), each coloured by its kind."""
    if not points:
        return Markup("")
    top = max(max(p.value for p in points), 1)
    step = WIDTH / max(len(points), 8)
    body = []
    for i, p in enumerate(points):
        height = max(round((HEIGHT - 4) * p.value / top, 1), 1.0)
        body.append(
            f'<rect class="chart-{escape(p.kind)}" x="{round(i * step + 1, 1)}" '
            f'y="{round(HEIGHT - height, 1)}" width="{round(step - 2, 1)}" height="{height}">'
            f"<title>{escape(p.label)}</title></rect>"
        )
    summary = f"{len(points)} runs, largest {top}, last {points[-1].value}"
    return _frame(title, summary, body)


def line(title: str, points: list[Point]) -> Markup:
    """A line through the points (oldest left) with a dot per point."""
    if not points:
        return Markup("")
    low = min(p.value for p in points)
    high = max(p.value for p in points)
    span = max(high - low, 1)
    step = WIDTH / max(len(points) - 1, 1)

    def y(value: int) -> float:
        return round(HEIGHT - 4 - (HEIGHT - 8) * (value - low) / span, 1)

    if len(points) == 1:  # one run: a dot in the middle
        coords = [(WIDTH / 2, y(points[0].value))]
    else:
        coords = [(round(i * step, 1), y(p.value)) for i, p in enumerate(points)]
    path = " ".join(f"{x},{yy}" for x, yy in coords)
    body = [f'<polyline class="chart-line" points="{path}"/>']
    for (x, yy), p in zip(coords, points, strict=True):
        body.append(
            f'<circle class="chart-{escape(p.kind)}" cx="{x}" cy="{yy}" r="2.5">'
            f"<title>{escape(p.label)}</title></circle>"
        )
    summary = f"from {points[0].value} to {points[-1].value} (lowest {low}, highest {high})"
    return _frame(title, summary, body)


def _changes(summary: dict[str, Any] | None) -> int:
    return sum(int(v) for v in (summary or {}).values() if isinstance(v, int | float))


def connector_charts(history: list[dict[str, Any]]) -> dict[str, Markup]:
    """The charts of one connector from its run history (oldest first).

    ``size``: users the IdP listed on each run that read it all; ``changes``: changes each
    run planned or applied, coloured by the run's status.
    """
    sizes = [
        Point(int(r["stats"]["source_users"]), f"run {r['id']}: {r['stats']['source_users']} users")
        for r in history
        if isinstance(r.get("stats"), dict) and isinstance(r["stats"].get("source_users"), int)
    ]
    changes = [
        Point(
            _changes(r["summary"]),
            f"run {r['id']} ({r['status']}): {_changes(r['summary'])} changes",
            str(r["status"]),
        )
        for r in history
    ]
    return {
        "size": line("Users in the IdP per run", sizes),
        "changes": bars("Changes per run", changes),
    }


def lag_bars(targets: list[dict[str, Any]]) -> dict[str, Markup]:
    """One horizontal bar per target: its lag relative to the largest lag."""
    top = max([int(t["lag"]) for t in targets] + [1])
    out = {}
    for target in targets:
        lag = int(target["lag"])
        width = round(WIDTH * lag / top, 1) if lag else 0
        kind = "ok" if lag == 0 else ("failed" if target["status"] != "ok" else "partial")
        out[str(target["name"])] = Markup(
            f'<svg class="chart chart-lag" viewBox="0 0 {WIDTH} 10" role="img" '
            f'preserveAspectRatio="none" aria-label="{lag} changes waiting">'
            f"<title>{lag} changes waiting</title>"
            f'<rect class="chart-track" x="0" y="0" width="{WIDTH}" height="10"/>'
            f'<rect class="chart-{kind}" x="0" y="0" width="{width}" height="10"/></svg>'
        )
    return out
