"""What a delivery and a reconcile share: the directory, the object map, and idempotent steps.

:class:`Session` holds one target's run: counters, the rejected-change bookkeeping with its
quarantine rule, and the *ensure* steps that make the target hold a directory object whatever
it held before (create if missing, adopt what a 409 or a lookup finds).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from idpsync.config import TargetSettings
from idpsync.config_photos import photo_setting
from idpsync.model import DirectoryState, MemberKind
from idpsync.photos import PhotoReader
from idpsync.store.store import Store
from idpsync.targets import photo_state
from idpsync.targets.attributes import AttributeMap
from idpsync.targets.base import USER_FIELDS, Member, Target
from idpsync.targets.errors import Conflict, DryRunRejected, Rejected
from idpsync.targets.seats import SeatBudget
from idpsync.targets.state import FailureKey, TargetState, known_connectors


class Quarantine(Exception):
    """Too many of this run's changes were rejected; the target is paused."""


@dataclass
class DeliveryResult:
    """The outcome of one delivery (or reconcile) run of one target."""

    target: str
    """The target's name."""
    status: str = "ok"
    """``ok``, ``down``, ``quarantined``, ``guarded`` (a reconcile refused) or ``dry_run``."""
    cursor: int = 0
    """The last change the target confirmed."""
    delivered: int = 0
    """Changes (or reconciled objects) the target confirmed."""
    rejected: int = 0
    """Changes the target refused (recorded for a retry)."""
    retried: int = 0
    """Earlier rejected changes delivered now."""
    counts: dict[str, int] = field(default_factory=dict)
    """Reconcile counters: created, adopted, updated, removed…"""
    message: str = ""
    """Why the target is down or quarantined, or the last rejection."""
    would_send: list[str] = field(default_factory=list)
    """In dry-run: the write requests that were held back (``METHOD URL``)."""
    held: int = 0
    """Users waiting for a seat after this run (``max_active_users``)."""
    released: int = 0
    """Held users delivered in this run because seats were free."""
    warnings: list[str] = field(default_factory=list)
    """What was delivered incompletely, e.g. a manager reference that cannot be resolved."""

    def bump(self, key: str) -> None:
        """Count one reconcile action."""
        self.counts[key] = self.counts.get(key, 0) + 1


class Session:
    """One run against one target."""

    def __init__(
        self,
        store: Store,
        name: str,
        settings: TargetSettings,
        target: Target,
        *,
        dry_run: bool = False,
        allow_deletes: bool = False,
        photos: PhotoReader | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.options = settings.options
        self.target = target
        self.dry_run = dry_run
        self.allow_deletes = allow_deletes
        """A reconcile may remove more target users than its guard allows."""
        self.state = TargetState(store, name)
        self.result = DeliveryResult(name)
        self.seats = SeatBudget(store, name, settings.options, dry_run=dry_run)
        """Seats left and the held queue (``docs/targets.md``, seat budget)."""
        self.change: tuple[int, str] = (0, "reconcile")
        """The change being delivered (``seq``, ``op``): what a held user is held by."""
        self._directory: dict[str, DirectoryState] = {}
        self.attribute_map = AttributeMap.build(settings.type, settings.attributes)
        """The target's mapped attributes (:mod:`idpsync.targets.attribute_delivery`)."""
        self.waiting_managers: dict[tuple[str, str], str] = {}
        """(connector, user) → manager source id not yet in the target, this run."""
        self.unresolved_reported: set[tuple[str, str, str]] = set()
        """(connector, user, manager) already reported as unresolved in this run."""
        self.created_with_attributes: set[tuple[str, str]] = set()
        """Users created in this run with their mapped attributes in the create request."""
        self.created_with_photo: dict[tuple[str, str], str] = {}
        """Users created in this run with their photo in the create request → its digest."""
        self._reports: dict[str, dict[str, list[str]]] = {}
        self.photos = photos
        """Where photos' bytes come from (``None``: no photo is delivered)."""
        self.photo_setting = photo_setting(settings.type, settings.profile, settings.attributes)
        """The photo keyword in effect (``None``: photos are off for this target)."""
        self.photo_marks: set[tuple[str, str]] = set()
        """Users whose photo a dry run would look at (a real run marks them in the store)."""

    # -- directory (read lazily, once per run) ---------------------------------------------------

    def connectors(self) -> list[str]:
        """The connectors this target follows."""
        return list(self.settings.connectors) or known_connectors(self.store)

    def directory(self, connector: str) -> DirectoryState:
        """The connector's part of the directory as it is now."""
        if connector not in self._directory:
            with self.store.engine.connect() as conn:
                self._directory[connector] = self.store.load_directory(conn, connector)
        return self._directory[connector]

    def reports_of(self, connector: str, manager_id: str) -> list[str]:
        """Source ids of the directory users whose manager is ``manager_id``."""
        if connector not in self._reports:
            index: dict[str, list[str]] = {}
            for user in self.directory(connector).users.values():
                if user.manager_id:
                    index.setdefault(user.manager_id, []).append(user.source_id)
            self._reports[connector] = index
        return self._reports[connector].get(manager_id, [])

    def user_fields(self, connector: str, source_id: str) -> dict[str, Any] | None:
        """A directory user's target fields, or ``None`` if the user is gone."""
        user = self.directory(connector).users.get(source_id)
        return {k: getattr(user, k) for k in USER_FIELDS} if user else None

    # -- object map (not written in dry-run) ---------------------------------------------------

    def remember(
        self,
        kind: str,
        connector: str,
        source_id: str,
        remote_id: str,
        adopted: bool = False,
        active: bool | None = None,
    ) -> None:
        """Record the remote id of a directory object (and whether a new user is active)."""
        if not self.dry_run:
            self.state.set_remote_id(
                kind, connector, source_id, remote_id, adopted=adopted, active=active
            )

    def may_activate(self, connector: str, source_id: str, fields: dict[str, Any]) -> bool:
        """Whether an update may go out now.

        ``False`` when it would reactivate a user past the seat budget (the user is then held).
        """
        if not fields.get("active"):  # a deactivation, or a change that leaves "active" be
            if "active" in fields:
                self.seats.drop((connector, source_id))  # an inactive user needs no seat
            return True
        if self.seats.limit is None and not self.seats.held():
            return True
        if self.state.active_of(connector, source_id) is not False:
            return True  # already holds a seat
        whole = {**(self.user_fields(connector, source_id) or {}), **fields}  # login shown
        return self.seats.admit((connector, source_id), whole, *self.change)

    def note_active(self, connector: str, source_id: str, fields: dict[str, Any]) -> None:
        """Record a user's new active state in the target (after the target confirmed it)."""
        if "active" in fields and not self.dry_run:
            active = bool(fields["active"])
            self.seats.changed(self.state.set_active(connector, source_id, active), active)

    def forget(self, kind: str, connector: str, source_id: str) -> None:
        """Drop the mapping of a directory object."""
        if not self.dry_run:
            self.state.forget(kind, connector, source_id)

    # -- ensure steps ---------------------------------------------------------------------------

    async def ensure_user(
        self, connector: str, source_id: str, fields: dict[str, Any] | None = None
    ) -> str | None:
        """The user's remote id, creating or adopting the user; ``None`` if not in the directory."""
        mapped = self.state.remote_id("user", connector, source_id)
        if mapped:
            return mapped
        fields = fields or self.user_fields(connector, source_id)
        if fields is None or not self.seats.admit((connector, source_id), fields, *self.change):
            return None  # gone, or held for want of a seat
        try:
            remote_id = await self._create(connector, source_id, fields)
            adopted = False
        except Conflict as exc:
            found = await self.target.find_user(source_id, fields)
            if found is None:
                raise Rejected(
                    f"{exc} (and no user with externalId {source_id!r} or "
                    f"userName {fields.get('login')!r} can be found to adopt)",
                    exc.status,
                    exc.scim_type,
                ) from exc
            remote_id, adopted = found.id, True
            drift = drift_of(fields, found.fields)
            if found.external_id != source_id:
                drift["external_id"] = source_id
            if drift:
                remote_id = await self.target.update_user(remote_id, drift) or remote_id
        active = bool(fields.get("active", True))
        self.remember("user", connector, source_id, remote_id, adopted, active)
        self.seats.created(active)
        digest = self.created_with_photo.get((connector, source_id))
        if digest is not None and not adopted and not self.dry_run:
            photo_state.settle(self.state, connector, source_id, digest)
            self.result.bump("photos_sent")
        return remote_id

    async def _create(self, connector: str, source_id: str, fields: dict[str, Any]) -> str:
        """Create the user, with its mapped attributes and its photo in the create request.

        A create the target refuses with them (other than "exists") is tried once more without:
        a value the target refuses must not keep the person out. The values then follow
        separately, and their refusal is recorded for the user; the photo follows in the photo
        pass (:mod:`idpsync.targets.photo_delivery`), which reports a refusal of it.
        """
        from idpsync.targets.attribute_delivery import creation_values
        from idpsync.targets.photo_delivery import creation_photo

        values = creation_values(self, connector, source_id)
        photo = creation_photo(self, connector, source_id)
        if not values and photo is None:  # nothing to send with the create
            remote_id = await self.target.create_user(source_id, fields)
        else:
            try:
                remote_id = await self.target.create_user(source_id, fields, values, photo)
            except Conflict:
                raise
            except Rejected:
                return await self.target.create_user(source_id, fields)
        if values is not None:  # {}: none to send; None: they follow (and say why)
            self.created_with_attributes.add((connector, source_id))
        if photo is not None:
            self.created_with_photo[(connector, source_id)] = photo.digest
        return remote_id

    async def ensure_group(
        self, connector: str, source_id: str, name: str | None = None
    ) -> str | None:
        """The group's remote id, adopting or creating it; ``None`` if not in the directory."""
        mapped = self.state.remote_id("group", connector, source_id)
        if mapped:
            return mapped
        group = self.directory(connector).groups.get(source_id)
        name = name or (group.name if group else None)
        if name is None:
            return None
        found = await self.target.find_group(source_id, name)
        if found is None:
            try:
                remote_id = await self.target.create_group(source_id, name)
                self.remember("group", connector, source_id, remote_id)
                return remote_id
            except Conflict:
                found = await self.target.find_group(source_id, name)
                if found is None:
                    raise
        if found.name != name:
            found_id = await self.target.rename_group(found.id, source_id, name)
        else:
            found_id = found.id
        self.remember("group", connector, source_id, found_id, adopted=True)
        return found_id

    async def ensure_member(self, connector: str, kind: str, source_id: str) -> Member | None:
        """A member's remote id and kind, creating the member if it is missing."""
        if kind == MemberKind.GROUP.value:
            remote = await self.ensure_group(connector, source_id)
        else:
            remote = await self.ensure_user(connector, source_id)
        return (remote, kind) if remote else None

    # -- bookkeeping ----------------------------------------------------------------------------

    async def attempt(
        self, key: FailureKey, seq: int, op: str, step: Callable[[], Awaitable[None]]
    ) -> bool:
        """Run one step; a rejection is recorded for a retry (and may quarantine the target)."""
        try:
            await step()
        except DryRunRejected as exc:
            self.result.would_send.append(f"{exc.method} {exc.url}")
            return False
        except Rejected as exc:
            self.result.rejected += 1
            self.result.message = str(exc)
            if not self.dry_run:
                self.state.record_failure(
                    key,
                    seq,
                    op,
                    str(exc),
                    self.options.retry_base_seconds,
                    self.options.retry_max_seconds,
                )
            self.check_quarantine()
            return False
        return True

    def check_quarantine(self) -> None:
        """Raise :class:`Quarantine` when the run's rejection rate passes the threshold."""
        rejected = self.result.rejected
        tried = rejected + self.result.delivered + self.result.retried
        if rejected >= self.options.min_failures_for_quarantine and (
            rejected / max(tried, 1) > self.options.max_failure_rate
        ):
            raise Quarantine(
                f"{rejected} of {tried} changes were rejected (more than "
                f"{self.options.max_failure_rate:.0%}); delivery is paused. Last rejection: "
                f"{self.result.message}. Fix the cause, then run "
                f"'idpsync deliver {self.state.name} --resume'"
            )


def drift_of(desired: dict[str, Any], remote: dict[str, Any]) -> dict[str, Any]:
    """The desired fields the remote object holds differently (logins and e-mails ignore case)."""
    changed = {}
    for key, value in desired.items():
        have = remote.get(key)
        if key in ("login", "email") and value and have:
            if value.casefold() != str(have).casefold():
                changed[key] = value
        elif have != value and not (value in (None, "") and have in (None, "")):
            changed[key] = value
    return changed
