"""The ``idpsync`` command line: one module per command group.

Exit codes: 0 ok, 1 a sync failed (or was refused by a guard), 2 bad usage or configuration.
"""

from __future__ import annotations

import sys

from idpsync.cli import (  # noqa: F401  (each module registers its commands)
    config_cmd,
    config_init,
    directory,
    emulate,
    network,
    serve,
    sync,
    targets_cmd,
)
from idpsync.cli.common import app, err

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``idpsync`` console script."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
