"""The store a service run writes through: it logs the run's start with the run's id.

The runner records a run (:meth:`Store.start_run`) before it reads the IdP; this subclass logs
that moment as ``run started`` with ``connector``, ``run_id``, ``mode``, ``dry_run`` and
``status=running``, and binds the id to every later log line of the run
(:func:`idpsync.service.logs.bind_run`). It shares the service's engine; nothing else changes.
"""

from __future__ import annotations

import logging

from idpsync.service.logs import bind_run
from idpsync.store.store import Store

log = logging.getLogger("idpsync.service")


class RunLogStore(Store):
    """A :class:`Store` over the same engine whose ``start_run`` is logged."""

    def start_run(self, connector: str, mode: str, dry_run: bool, actor: str | None = None) -> int:
        """Record the run (see :meth:`Store.start_run`), then log it and bind its id."""
        run_id = super().start_run(connector, mode, dry_run, actor)
        bind_run(run_id)
        log.info(
            "run started",
            extra={
                "connector": connector,
                "run_id": run_id,
                "status": "running",
                "mode": mode,
                "dry_run": dry_run,
                "actor": actor,
            },
        )
        return run_id
