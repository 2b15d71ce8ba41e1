"""Who a command run on the host acts as, in the audit trail: ``cli:<OS user>``.

Whoever runs the commands can read the configuration and the store, so they act as the host's
administrator. Apart from :mod:`idpsync.cli.access` (the ``tokens`` and ``audit`` commands) so
that ``sync``, ``deliver`` and ``connectors migrate`` can record without importing the web
app's roles.
"""

from __future__ import annotations

import getpass

from idpsync.store import audit as trail
from idpsync.store.store import Store


def cli_actor() -> str:
    """The audit actor of a command run on the host: ``cli:<OS user>``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        user = "unknown"
    return f"cli:{user}"


def record(store: Store, action: str, subject: str | None, **detail: object) -> None:
    """Write one audit row as the command's user."""
    trail.append(store, cli_actor(), action, subject, detail=dict(detail))
