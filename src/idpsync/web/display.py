"""How the pages show times and statuses (Jinja filters, registered by :func:`install`).

A time is rendered as ``<time datetime="ISO">2026-12-03 14:53 UTC</time>``: readable without
script (in UTC, to the minute, never with microseconds); ``static/time.js`` rewrites it in the
viewer's own time zone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment
from markupsafe import Markup, escape

STATUS_KIND = {
    "succeeded": "ok",
    "ok": "ok",
    "partial": "warn",
    "guarded": "held",
    "failed": "bad",
    "interrupted": "bad",
    "down": "bad",
    "quarantined": "warn",
    "dry_run": "muted",
    "running": "live",
}
"""Every run or target status to one of the colour families of ``style.css``."""


def _parse(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # the store keeps UTC
    return moment.astimezone(UTC)


def when(value: Any, empty: str = "") -> Markup:
    """A ``<time>`` element for a datetime or ISO string (``empty`` when there is none)."""
    moment = _parse(value)
    if moment is None:
        return Markup(escape(value if value else empty))
    iso = moment.isoformat(timespec="seconds")
    text = moment.strftime("%Y-%m-%d %H:%M UTC")
    return Markup(f'<time datetime="{iso}" title="{iso}">{text}</time>')


def kind(status: Any) -> str:
    """The colour family of a status (``neutral`` for one it does not know)."""
    return STATUS_KIND.get(str(status or ""), "neutral")


def duration(seconds: Any) -> str:
    """``seconds`` as ``1 h 02 min``, ``3 min 05 s`` or ``42 s``."""
    if not isinstance(seconds, int | float) or seconds < 0:
        return ""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def install(env: Environment) -> None:
    """Register the filters on the pages' Jinja environment."""
    env.filters["when"] = when
    env.filters["kind"] = kind
    env.filters["duration"] = duration
