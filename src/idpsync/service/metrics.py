"""Prometheus metrics of one ``idpsync serve`` process (served at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from idpsync.app.runner import RunResult


class Metrics:
    """The service's counters and gauges, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.runs = Counter(
            "idpsync_runs",
            "Sync runs by connector and outcome.",
            ["connector", "status"],
            registry=r,
        )
        self.duration = Histogram(
            "idpsync_run_duration_seconds",
            "Wall time of sync runs.",
            ["connector"],
            buckets=(0.5, 1, 5, 15, 60, 300, 900, 3600, float("inf")),
            registry=r,
        )
        self.changes = Counter(
            "idpsync_changes", "Changes applied to the directory.", ["connector"], registry=r
        )
        self.source_requests = Counter(
            "idpsync_source_requests", "HTTP requests sent to IdPs.", ["connector"], registry=r
        )
        self.throttled = Counter(
            "idpsync_source_throttled",
            "IdP answers that asked to slow down (429 and equivalents).",
            ["connector"],
            registry=r,
        )
        self.target_lag = Gauge(
            "idpsync_target_lag_changes",
            "Changes not yet delivered to a target.",
            ["target"],
            registry=r,
        )
        self.target_held = Gauge(
            "idpsync_target_held_users",
            "Users a target's seat budget holds back (max_active_users).",
            ["target"],
            registry=r,
        )
        self.http_requests = Counter(
            "idpsync_http_requests",
            "Requests to the service's own API and pages.",
            ["method", "route", "status"],
            registry=r,
        )
        self.alerts = Counter("idpsync_alerts", "Alerts raised by kind.", ["kind"], registry=r)

    def record_run(self, connector: str, result: RunResult, seconds: float) -> None:
        """Count one finished run."""
        self.runs.labels(connector, result.status).inc()
        self.duration.labels(connector).observe(seconds)
        if result.status in ("succeeded", "partial"):
            self.changes.labels(connector).inc(len(result.plan))
        self.source_requests.labels(connector).inc(int(result.stats.get("requests", 0)))
        self.throttled.labels(connector).inc(int(result.stats.get("throttled", 0)))

    def render(self) -> bytes:
        """The exposition text."""
        return generate_latest(self.registry)
