"""The ``idpsync`` command line: one module per command group.

Exit codes: 0 ok, 1 a sync failed (or was refused by a guard, or the store's disk is full),
2 bad usage or configuration. An unexpected error is one line (``internal error: …``) and exit
code 1; ``IDPSYNC_DEBUG=1`` shows its traceback instead.
"""

from __future__ import annotations

import os
import sys

from idpsync.cli.root import app

__all__ = ["DEBUG_ENV", "app", "main"]

DEBUG_ENV = "IDPSYNC_DEBUG"
"""Set to ``1`` to see the traceback of an unexpected error."""


def main() -> None:
    """Entry point of the ``idpsync`` console script.

    Only the command that runs is imported (:mod:`idpsync.cli.root`); what the handlers below
    need is imported when they run. A command that allows it ends the process without the
    interpreter's teardown (:mod:`idpsync.cli.ending`).
    """
    from idpsync.cli import ending

    ending.forbid()  # only a command run by this call may allow it
    try:
        app()
    except SystemExit as end:
        ending.end_now(end.code)  # returns unless the command allowed it
        raise
    except KeyboardInterrupt:
        from idpsync.cli.common import err

        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:
        _fail(exc)
        raise  # IDPSYNC_DEBUG set: the traceback


def _fail(exc: Exception) -> None:
    """End on an error no command handled: a store error in one line, else ``internal error``.

    Returns (for the caller to re-raise) only when ``IDPSYNC_DEBUG`` asks for the traceback.
    """
    from idpsync.cli.common import EXIT_FAILED, EXIT_USAGE, err
    from idpsync.store.errors import StoreError, StoreUnusable

    if isinstance(exc, StoreUnusable):  # a store opened outside the commands' own handling
        err.print(f"configuration error: store.url: {exc}", markup=False)
        sys.exit(EXIT_USAGE)
    if isinstance(exc, StoreError):
        err.print(f"error: {exc}", markup=False)
        sys.exit(EXIT_FAILED)
    if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
        return
    err.print(f"internal error: {_one_line(exc)}", markup=False)
    err.print(f"(run again with {DEBUG_ENV}=1 to see the traceback)", markup=False)
    sys.exit(EXIT_FAILED)


def _one_line(exc: Exception) -> str:
    """``Type: message`` on one line.

    For a database error, the driver's words without the statement and its parameters (they
    may hold directory data).
    """
    import sqlalchemy as sa

    orig = exc.orig if isinstance(exc, sa.exc.StatementError) else None
    cause: BaseException = orig if orig is not None else exc
    text = " ".join(str(cause).split()) or "(no message)"
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(cause).__name__}: {text}"
