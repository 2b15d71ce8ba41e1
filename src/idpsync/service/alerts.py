"""Alerts: a webhook ``POST`` and an e-mail per alert, and one more when it is resolved.

Which conditions alert, and that each is sent once while it holds, is decided by
:mod:`idpsync.service.book`; this module only sends. Sending never raises: a broken alert
channel is logged (without secrets) and the service goes on. The webhook receives
``{"kind", "state", "connector", "target", "message", "run_id", "at", "instance"}`` with
``state`` ``firing`` or ``resolved``; for a target's alert ``connector`` is empty.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import socket
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage

import httpx

from idpsync.config_service import AlertSettings
from idpsync.store.store import now

log = logging.getLogger("idpsync.alerts")

TITLES = {
    "failed": "sync failed",
    "partial": "sync partial again and again",
    "guarded": "sync refused by a guard (approval needed)",
    "approval_waiting": "approval still unanswered",
    "overdue": "sync overdue",
    "target_down": "target down",
    "target_quarantined": "target quarantined",
    "target_seats": "target out of seats (users held)",
}
"""Every alert kind with its e-mail subject."""

KINDS = tuple(TITLES)


@dataclass(frozen=True, slots=True)
class Alert:
    """Something an administrator must look at."""

    kind: str
    """One of :data:`KINDS`."""
    connector: str
    """The connector concerned (empty for a target's alert)."""
    message: str
    """What happened and what to do, in one line."""
    run_id: int | None = None
    """The run that raised it, if a run did."""
    at: str = field(default_factory=lambda: now().isoformat())
    instance: str = field(default_factory=socket.gethostname)
    state: str = "firing"
    """``firing``, or ``resolved`` when the condition has cleared."""
    target: str = ""
    """The target concerned (empty for a connector's alert)."""

    @property
    def subject(self) -> str:
        """One line for an e-mail subject."""
        what = TITLES[self.kind]
        where = f"target {self.target}" if self.target else self.connector
        done = "resolved: " if self.state == "resolved" else ""
        return f"idpsync: {where}: {done}{what}"


class Alerter:
    """Sends alerts to the configured channels."""

    def __init__(self, settings: AlertSettings, client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self._client = client
        self.sent: list[Alert] = []

    async def send(self, alert: Alert) -> None:
        """Send ``alert`` to every configured channel; failures are logged, not raised."""
        self.sent.append(alert)
        log.warning(
            "alert %s (%s) for %s: %s",
            alert.kind,
            alert.state,
            alert.target or alert.connector,
            alert.message,
        )
        if self.settings.webhook_url:
            await self._webhook(alert, self.settings.webhook_url)
        if self.settings.smtp_host and self.settings.mail_to:
            try:
                await asyncio.to_thread(self._mail, alert)
            except (OSError, smtplib.SMTPException) as exc:
                log.error(
                    "cannot send the alert e-mail via %s:%s: %s",
                    self.settings.smtp_host,
                    self.settings.smtp_port,
                    exc,
                )

    async def _webhook(self, alert: Alert, url: str) -> None:
        client = self._client or httpx.AsyncClient(timeout=10.0)
        try:
            response = await client.post(url, json=asdict(alert))
            if response.status_code >= 300:
                log.error("alert webhook %s answered %s", url, response.status_code)
        except httpx.HTTPError as exc:
            log.error("cannot reach the alert webhook %s: %s", url, type(exc).__name__)
        finally:
            if self._client is None:
                await client.aclose()

    def _mail(self, alert: Alert) -> None:
        s = self.settings
        assert s.smtp_host is not None
        msg = EmailMessage()
        msg["Subject"] = alert.subject
        msg["From"] = s.mail_from
        msg["To"] = ", ".join(s.mail_to)
        msg.set_content(
            f"{alert.message}\n\n"
            + (f"target: {alert.target}\n" if alert.target else f"connector: {alert.connector}\n")
            + f"state: {alert.state}\nrun: {alert.run_id}\n"
            f"time: {alert.at}\ninstance: {alert.instance}\n"
        )
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=15) as smtp:
            if s.smtp_starttls:
                smtp.starttls()
            if s.smtp_user and s.smtp_password:
                smtp.login(s.smtp_user, s.smtp_password.get_secret_value())
            smtp.send_message(msg)
