"""benchmarks.rounds_timeline: a traced read's batch calls grouped in rounds."""

from __future__ import annotations

from typing import Any

from benchmarks.rounds_timeline import rounds, summary


def call(t: float, end: float, cpu: float, label: str = "POST /$batch") -> dict[str, Any]:
    return {"kind": "request", "label": label, "t": t, "end": end, "cpu": cpu}


def test_calls_asked_for_together_make_a_round() -> None:
    events = [
        call(0.0, 0.6, 1.0, "POST /{tenant}/oauth2/v2.0/token"),  # not a batch call
        call(1.0, 1.5, 1.1),
        call(1.01, 2.0, 1.1),  # with the first: one round of two calls
        call(2.25, 2.75, 1.4),
        {"kind": "wire", "t": 2.25, "end": 2.7},
    ]
    first, second = rounds(events)
    assert first.calls == 2 and second.calls == 1
    assert round(first.gap, 2) == 0.25 and round(first.step, 2) == 1.25
    assert round(first.cpu, 2) == 0.3 and round(second.step, 2) == 0.5
    lines = summary([first, second], every=True)
    assert lines[0].startswith("3 calls in 2 rounds") and len(lines) == 6
