"""The users listing turned into records page by page, as it is read (no I/O here).

A Directory ``User`` resource is about 3.5 KB once parsed; what a :class:`SourceUser` keeps of
it is its fields and the attributes the policy may map (not the volatile ones of
:data:`.api.VOLATILE`), sharing the parsed values. Holding every resource until the listing
ends, and then converting, kept both at once: at 100,000 users about 150 MiB more than the
records. :class:`UserPages` converts each page when it comes and lets the page go.

Only the manager waits: ``relations[type=manager]`` names an e-mail, which may be of a user on
a later page, so each user's manager e-mail is noted and matched (primary addresses and
aliases) in :meth:`UserPages.records` once the listing is complete. What a page says about the
read (records that cannot be used, items without a usable id) is reported there too, so a
listing that fails midway reports nothing, as before.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from idpsync.model import Snapshot, SourceUser
from idpsync.sources.clean import usable_id
from idpsync.sources.google import api as g
from idpsync.sources.google import photos as google_photos
from idpsync.sources.google.endpoints import USERS
from idpsync.sources.shape import records


class UserPages:
    """The users read so far: records, their managers' e-mails, and what to report."""

    def __init__(self, photos: bool) -> None:
        self.photos = photos
        """Whether each user's photo version is read (``fetch_photos``)."""
        self.users: list[SourceUser] = []
        self.managers: dict[int, str] = {}
        """Position in :attr:`users` → the manager's e-mail (lower-cased), where one is named."""
        self.by_email: dict[str, str] = {}
        """Every primary address and alias (lower-cased) → the user's id."""
        self.unusable = 0
        self.reports = Snapshot()
        """Where the records that cannot be used are reported until the listing ends."""

    def take(self, items: list[Any]) -> None:
        """One page of ``User`` resources, as records (the resources are not kept)."""
        usable = [i for i in items if isinstance(i, dict) and usable_id(i.get("id")) is not None]
        self.unusable += len(items) - len(usable)
        for item in records(self.reports, USERS.label, "user", usable, g.checked_user, _email):
            user_id = str(item["id"])
            for mail in g.emails_of(item):
                self.by_email[mail] = user_id
            if manager := g.manager_email(item):
                self.managers[len(self.users)] = manager
            ref = google_photos.version(item) if self.photos else None
            self.users.append(g.to_user(item, None, ref))

    def records(self, snap: Snapshot) -> list[SourceUser]:
        """The users with their managers matched; what the pages said reported to ``snap``."""
        snap.skipped += self.reports.skipped
        if self.unusable:
            snap.mark_incomplete(
                f"{USERS.label}: {self.unusable} item(s) are not objects with a usable id (skipped)"
            )
        users = self.users
        for position, email in self.managers.items():
            manager = self.by_email.get(email)
            if manager is not None:
                users[position] = replace(users[position], manager_id=manager)
        self.users, self.managers, self.by_email = [], {}, {}
        return users


def _email(item: dict[str, Any]) -> object:
    return item.get("primaryEmail")
