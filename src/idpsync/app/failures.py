"""One line for a run that ended in an exception: what the run row and the alert say.

A :class:`~idpsync.sources.base.SourceError` (and the HTTP errors below it) already says what
went wrong and what to do, so its text is the message; so does a store error (a full disk).
Anything else is a bug in idpsync or data it did not expect:
``internal error: <Type>: <first line of the message>``, cut to :data:`MAX_MESSAGE` characters.
The traceback goes to the ``idpsync.runner`` logger at debug level, for a developer, never to
the administrator's screen.
"""

from __future__ import annotations

import logging

from sqlalchemy.engine import URL

from idpsync.errors import SourceError
from idpsync.store.errors import StoreError, translate

MAX_MESSAGE = 300
"""Longest message an internal error puts in a run row."""

log = logging.getLogger("idpsync.runner")


def failure_message(exc: BaseException, store_url: URL | None = None) -> str:
    """The run's ``message`` for ``exc`` (see the module docstring).

    With ``store_url``, a database error the store knows (a full disk, a lost connection, a
    writer holding the lock) is said in the store's own words, not as an internal error.
    """
    if isinstance(exc, SourceError | StoreError):
        return str(exc)
    known = translate(exc, store_url) if store_url is not None else None
    if known is not None:
        return str(known)
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
