"""Fault injection for tests: a sync that kills its own process at a chosen point.

``IDPSYNC_FAULT_KILL_AT=<phase>`` (``users``, ``updates``, ``memberships``, ``changes``) makes
the process kill itself with SIGKILL at that point of the apply, inside the open transaction;
the tests use it to show that a killed sync leaves the store as before.
"""

from __future__ import annotations

import os
import signal

FAULT_ENV = "IDPSYNC_FAULT_KILL_AT"


def fault(phase: str) -> None:
    """Kill this process now if ``IDPSYNC_FAULT_KILL_AT`` names ``phase``."""
    if os.environ.get(FAULT_ENV) == phase:
        os.kill(os.getpid(), signal.SIGKILL)
