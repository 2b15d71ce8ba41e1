"""The alert book: each condition alerts once while it holds, and once more when it clears.

A condition is a (kind, connector or target) pair, e.g. ``("partial", "okta")`` or
``("target_down", "jira")``. After every run, delivery round and overdue check the service
works out which conditions hold *now* (:mod:`idpsync.service.conditions`) and hands them to
:meth:`AlertBook.reconcile`: a condition that was not open sends an alert and is recorded in the
store's ``open_alerts`` table; one that is open sends nothing; an open one that no longer holds
sends a "resolved" message and is removed. Because the open set lives in the store, a restart
or a second instance does not send an alert again; the table's primary key makes a race between
two instances send one alert, not two.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from idpsync.service.alerts import Alert, Alerter
from idpsync.store import schema as t
from idpsync.store.store import Store, now

log = logging.getLogger("idpsync.alerts")


@dataclass(frozen=True, slots=True)
class Firing:
    """A condition that holds now."""

    message: str
    """What is wrong and what to do."""
    run_id: int | None = None
    """The run that shows it, if any."""


class AlertBook:
    """Opens and resolves alerts for conditions, persisted in ``open_alerts``."""

    def __init__(self, store: Store, alerter: Alerter) -> None:
        self.store = store
        self.alerter = alerter

    def open(self, subject: str) -> dict[str, str]:
        """The open alerts of a connector or target: ``{kind: message}``."""
        a = t.open_alerts.c
        with self.store.engine.connect() as conn:
            rows = conn.execute(sa.select(a.kind, a.message).where(a.subject == subject))
            return {r.kind: r.message for r in rows}

    async def reconcile(
        self,
        subject: str,
        kinds: Collection[str],
        holding: Mapping[str, Firing],
        *,
        target: bool = False,
    ) -> list[Alert]:
        """Make the open alerts of ``subject`` among ``kinds`` match ``holding``; return sends."""
        sent = []
        already = self.open(subject)
        for kind in kinds:
            firing = holding.get(kind)
            if firing is not None and kind not in already:
                if self._claim(kind, subject, firing):
                    sent.append(self._alert(kind, subject, firing, target, "firing"))
            elif firing is None and kind in already and self._release(kind, subject):
                cleared = Firing(f"cleared: {already[kind]}")
                sent.append(self._alert(kind, subject, cleared, target, "resolved"))
        for alert in sent:
            await self.alerter.send(alert)
        return sent

    def _alert(self, kind: str, subject: str, f: Firing, target: bool, state: str) -> Alert:
        return Alert(
            kind,
            "" if target else subject,
            f.message,
            f.run_id,
            state=state,
            target=subject if target else "",
        )

    def _claim(self, kind: str, subject: str, firing: Firing) -> bool:
        """Record the alert as open; false when another instance did so first."""
        row = {
            "kind": kind,
            "subject": subject,
            "message": firing.message[:4000],
            "run_id": firing.run_id,
            "opened_at": now(),
        }
        try:
            with self.store.transaction() as conn:
                conn.execute(t.open_alerts.insert().values(**row))
        except IntegrityError:
            return False
        return True

    def _release(self, kind: str, subject: str) -> bool:
        """Remove the open alert; false when another instance resolved it first."""
        a = t.open_alerts.c
        with self.store.transaction() as conn:
            gone = conn.execute(
                t.open_alerts.delete().where(a.kind == kind, a.subject == subject)
            ).rowcount
        return bool(gone)
