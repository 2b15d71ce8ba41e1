"""Waiting for the service's background writers before a test closes its store."""

from __future__ import annotations

import threading

AUDIT_WRITER = "audit-writer"
"""The name of the thread that writes a token's use off the request (``idpsync.web.audit``)."""


def join_audit_writers(timeout: float = 30.0) -> None:
    """Wait for every audit writer still running.

    A writer that outlives its test would check a connection out of a store the test has closed
    (``dispose`` makes a new pool), and the connection, never closed, would warn from its
    finaliser in whichever later test the thread ends in.
    """
    for thread in threading.enumerate():
        if thread.name == AUDIT_WRITER:
            thread.join(timeout)
