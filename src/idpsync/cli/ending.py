"""Ending the ``idpsync`` process without tearing its heap down, for a command that allows it.

A command that ends holding a large heap (``sync`` at L: the run's plan, its records, ≈1M
objects, still referenced by the exit's traceback) spends most of a second after its last word
in the interpreter's shutdown: a full collection, then every object freed one by one, though
the operating system reclaims the memory at once when the process ends (measured in
``idpsync sync`` at OneLogin's L: ≈0.8 s from the command's return to the process's end;
docs/benchmarks.md, "Issue #20 at L: a first load's seconds outside stage, plan and apply").

A command calls :func:`allow` once everything it must do is done (the store closed: its
transaction committed and checkpointed); :func:`idpsync.cli.main` then calls :func:`end_now`
with the exit code. That ends the process as Python's own exit would, minus the teardown:
standard output and error flushed, the ``atexit`` handlers run (logging's flush and close among
them), then ``os._exit``. It falls back to the ordinary exit (returns) when:

- no command allowed it (or the process is not ``idpsync`` itself: tests calling the commands
  in-process never reach :func:`idpsync.cli.main`);
- the exit code is a message (a string to print), not a number;
- a thread other than the main one is alive and not a daemon (the ordinary exit waits for it);
- a standard stream cannot be flushed before the handlers run (a closed pipe: the ordinary exit
  reports it).
"""

from __future__ import annotations

import atexit
import os
import sys
import threading

_allowed = False


def allow() -> None:
    """Let this process end without the interpreter's teardown (see the module doc)."""
    global _allowed
    _allowed = True


def forbid() -> None:
    """Take an allowance back (:func:`idpsync.cli.main` does before it runs a command)."""
    global _allowed
    _allowed = False


def allowed() -> bool:
    """Whether a command allowed it."""
    return _allowed


def _other_threads() -> bool:
    """Whether a thread other than the main one, not a daemon, is alive."""
    main = threading.main_thread()
    return any(t is not main and not t.daemon and t.is_alive() for t in threading.enumerate())


def _flushed() -> bool:
    """Flush standard output and error; whether both could be."""
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        return False
    return True


def end_now(code: object) -> None:
    """End the process with ``code`` (``None``: 0) now, if allowed and safe; else return."""
    if not _allowed or not (code is None or isinstance(code, int)) or _other_threads():
        return
    if not _flushed():
        return
    atexit._run_exitfuncs()  # what the ordinary exit runs before its teardown
    # a handler's output that cannot be flushed: 120, as the ordinary exit's status then
    os._exit((code or 0) if _flushed() else 120)
