"""Logging for ``idpsync serve``: plain lines, or one JSON object per line for log shippers.

Both formats carry the same fields. Besides time, level, logger and message, a line about a
run names its ``connector``, ``run_id`` and ``status`` (given as ``extra`` by the caller), and
every line logged while a connector runs names that ``connector`` and, once the run is recorded,
its ``run_id`` (see :func:`bind_connector`, :func:`bind_run`), whichever module logged it.
Plain lines put the fields after the message as ``key=value``.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_CONNECTOR: ContextVar[str | None] = ContextVar("idpsync_log_connector", default=None)
_RUN_ID: ContextVar[int | None] = ContextVar("idpsync_log_run_id", default=None)


def bind_connector(name: str) -> None:
    """Name ``name`` on every log line of the current context (a run's task and its tasks)."""
    _CONNECTOR.set(name)
    _RUN_ID.set(None)


def bind_run(run_id: int) -> None:
    """Name the run ``run_id`` on every later log line of the current context."""
    _RUN_ID.set(run_id)


def fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record's extra fields (``connector``, ``run_id``, ``status`` …), in given order."""
    return {
        key: value
        for key, value in vars(record).items()
        if key not in _STANDARD and not key.startswith("_")
    }


class RunContext(logging.Filter):
    """Adds the bound connector and run id to records that do not name them already."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keeps the record."""
        connector, run_id = _CONNECTOR.get(), _RUN_ID.get()
        if connector is not None and not hasattr(record, "connector"):
            record.connector = connector
        if run_id is not None and not hasattr(record, "run_id"):
            record.run_id = run_id
        return True


class JsonFormatter(logging.Formatter):
    """Formats a record as JSON: time, level, logger, message and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one JSON line."""
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update(fields(record))
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger: message key=value …`` (values with spaces are quoted)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line (plus a traceback, when there is one)."""
        line = super().format(record)
        pairs = " ".join(f"{key}={_text(value)}" for key, value in fields(record).items())
        if not pairs:
            return line
        first, newline, rest = line.partition("\n")
        return f"{first} {pairs}{newline}{rest}"


def _text(value: object) -> str:
    text = str(value)
    return json.dumps(text) if not text or any(c.isspace() or c == '"' for c in text) else text


def configure(log_format: LogFormat, level: int = logging.INFO) -> None:
    """Send idpsync's logs to stderr as ``text`` or ``json`` lines."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(RunContext())
    root = logging.getLogger("idpsync")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
