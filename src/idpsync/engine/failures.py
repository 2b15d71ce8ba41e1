"""One line for a run that ended in an exception: what the run row and the alert say.

A :class:`~idpsync.sources.base.SourceError` (and the HTTP errors below it) already says what
went wrong and what to do, so its text is the message. Anything else is a bug in idpsync or
data it did not expect: ``internal error: <Type>: <first line of the message>``, cut to
:data:`MAX_MESSAGE` characters. The traceback goes to the ``idpsync.runner`` logger at debug
level, for a developer, never to the administrator's screen.
"""

from __future__ import annotations

import logging

from idpsync.sources.base import SourceError

MAX_MESSAGE = 300
"""Longest message an internal error puts in a run row."""

log = logging.getLogger("idpsync.runner")


def failure_message(exc: BaseException) -> str:
    """The run's ``message`` for ``exc`` (see the module docstring)."""
    if isinstance(exc, SourceError):
        return str(exc)
    log.debug("run ended in an internal error", exc_info=exc)
    text = _first_line(exc)
    name = type(exc).__name__
    line = f"internal error: {name}: {text}" if text else f"internal error: {name}"
    return line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 1] + "…"


def _first_line(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # a broken __str__ must not hide the real failure
        return ""
    return next((part.strip() for part in text.splitlines() if part.strip()), "")
