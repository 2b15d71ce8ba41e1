"""Okta's users made and cleaned as a full read's users pages come (:class:`UsersAhead`).

A full read ends with the member listings or the users chain, whichever is longer; until now
every user was checked, made into a :class:`~idpsync.model.SourceUser` and cleaned only after
the last answer (100,000 users at L: ≈2 s on the read's critical path, while the process had
waited on Okta's rate limits for minutes). :class:`UsersAhead` does that work for each record
as its page arrives, and the end of the read takes what was made:

- nothing about *which* users the read keeps changes: the listings' records are kept, merged
  (the ``lastUpdated`` ranges, the later copy winning) and filtered exactly as before, and only
  then converted; a record made ahead is looked up by its ``id()`` (the record is held by its
  listing, so its ``id()`` is never another's while the read runs);
- a record that is not made ahead (its conversion failed, its page came from a listing that
  is not a full read's users listing) is converted at the end as before, reporting its reason
  the same way, in the same order;
- a listing that fails still contributes nothing: its records, made or not, are never asked
  for; the made users are let go with the read (:meth:`clear`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from idpsync.model import SourceUser
from idpsync.sources.clean import Prepared, prepare, usable_id
from idpsync.sources.okta.records import checked_user, to_user
from idpsync.sources.shape import CONVERT_ERRORS


class UsersAhead:
    """Users made from their records, and cleaned, page by page (see the module docstring)."""

    def __init__(self, active: Collection[str], deprovisioned: bool = True) -> None:
        self.active = active
        self.deprovisioned = deprovisioned
        """Whether the read keeps ``DEPROVISIONED`` users; if not, theirs are not made ahead
        (a range read lists them and drops them at its end)."""
        self.made: dict[int, tuple[dict[str, Any], SourceUser]] = {}
        """Each record that made a user, and the user, by the record's ``id()``."""
        self.ready: dict[int, tuple[SourceUser, Prepared]] = {}
        """Each made user cleaned (:func:`~idpsync.sources.clean.prepare`), by the user's
        ``id()``."""

    def page(self, items: list[Any]) -> None:
        """Make and clean the users of a page's records (those that fail are left for later)."""
        for item in items:
            if not isinstance(item, dict) or usable_id(item.get("id")) is None:
                continue
            if not self.deprovisioned and item.get("status") == "DEPROVISIONED":
                continue  # dropped by the read: made at the end if it is kept after all
            try:
                user = to_user(item, self.active)  # checks the record's shape first
            except CONVERT_ERRORS:
                continue
            self.made[id(item)] = (item, user)
            self.ready[id(user)] = (user, prepare(user))

    def checked(self, item: dict[str, Any]) -> dict[str, Any]:
        """:func:`~idpsync.sources.okta.records.checked_user`, not repeated for a record made."""
        return item if self._made(item) is not None else checked_user(item)

    def converter(self, convert: Callable[[dict[str, Any]], SourceUser]) -> Callable[..., Any]:
        """``convert``, but a record made ahead gives the user made of it."""

        def user(item: dict[str, Any]) -> SourceUser:
            made = self._made(item)
            return made if made is not None else convert(item)

        return user

    def cleaned(self, user: SourceUser) -> Prepared | None:
        """``user`` cleaned ahead, if it is one that was made here."""
        entry = self.ready.get(id(user))
        return entry[1] if entry is not None and entry[0] is user else None

    def clear(self) -> None:
        """Let go of every record and user made."""
        self.made.clear()
        self.ready.clear()

    def _made(self, item: dict[str, Any]) -> SourceUser | None:
        entry = self.made.get(id(item))
        return entry[1] if entry is not None and entry[0] is item else None
