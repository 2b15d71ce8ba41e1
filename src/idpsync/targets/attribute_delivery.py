"""Delivering a target's mapped attributes, the manager reference included.

- A new user is created with its mapped attributes (:mod:`idpsync.targets.attributes`; only
  the values that are set) in the create request itself (:func:`creation_values`); they are
  sent after the create only when the create could not carry them (a template failed for the
  user, the target refused the create with them, or the user existed and was adopted).
  They are sent again whenever a change touches ``attributes`` or ``manager_id`` (the values
  whose rendering changed; a blank one removes the attribute), so a new department reaches the
  target even when no core field changed, and a change of an IdP attribute no template reads
  sends nothing. A retried user is sent everything again.
- The manager is resolved through the object map to the manager's id in the target. A manager
  who is in the directory but not (yet) in the target leaves the reference empty; when the
  manager is created — later in the same run or in a later one — every report already in the
  target gets the reference (the reports are found by ``manager_id`` in the directory). A
  manager still missing at the end of the run, or one who is not in the directory at all, is
  reported in the delivery result (``warnings``, ``counts["manager_unresolved"]``) and logged;
  no reference is ever invented.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from idpsync.targets.attributes import AttributeTarget, UserRef, Value, is_reference
from idpsync.targets.errors import Rejected
from idpsync.targets.photo_delivery import note
from idpsync.targets.session import Session
from idpsync.templating import TemplateProblem

log = logging.getLogger("idpsync.targets")

WATCHED = ("attributes", "manager_id")
"""Directory fields whose change makes the mapped attributes be sent again."""


async def push_attributes(
    session: Session,
    connector: str,
    source_id: str,
    changed: Mapping[str, Any] | None = None,
    *,
    before: Mapping[str, Any] | None = None,
    created: bool = False,
    only: Sequence[str] | None = None,
) -> None:
    """Send the user's mapped attributes (all of them unless ``changed`` shows none moved).

    With ``before`` (the change's old values) only the attributes whose rendered value differs
    are sent, so a change of an IdP attribute no template reads sends nothing. With ``only``
    just those attributes are sent (the manager reference, when the manager arrives).
    """
    target = session.target
    if not session.attribute_map.templates or not isinstance(target, AttributeTarget):
        return
    if changed is not None and not any(key in changed for key in WATCHED):
        return
    user = session.directory(connector).users.get(source_id)
    remote = session.state.remote_id("user", connector, source_id)
    if user is None or remote is None:
        return
    try:
        rendered = session.attribute_map.render(user)
    except TemplateProblem as exc:
        raise Rejected(f"the target's attribute mapping failed for {user.login}: {exc}") from None
    if only is not None:
        rendered = {k: v for k, v in rendered.items() if k in only}
    if changed is not None and before is not None:
        old = {k: before[k] for k in WATCHED if k in before}
        try:
            was = session.attribute_map.render(replace(user, **old))
        except TemplateProblem:
            was = {}
        rendered = {k: v for k, v in rendered.items() if k not in was or was[k] != v}
        if not rendered:
            return
    values = resolved(session, connector, source_id, rendered)
    if created:
        values = {k: v for k, v in values.items() if v is not None}
    if values:
        await target.set_attributes(remote, values)


def creation_values(session: Session, connector: str, source_id: str) -> dict[str, Value] | None:
    """The set mapped values a new user is created with; ``None``: none go with the create.

    ``None`` when the target holds no mapped attributes, or when a template fails for the
    user: the user is then created without them and the push after the create reports why.
    A manager not in the target yet waits, exactly as with :func:`push_attributes`.
    """
    if not session.attribute_map.templates or not isinstance(session.target, AttributeTarget):
        return None
    user = session.directory(connector).users.get(source_id)
    if user is None:
        return None
    try:
        rendered = session.attribute_map.render(user)
    except TemplateProblem:
        return None
    values = resolved(session, connector, source_id, rendered)
    return {k: v for k, v in values.items() if v is not None}


def resolved(
    session: Session, connector: str, source_id: str, rendered: Mapping[str, str | None]
) -> dict[str, Value]:
    """The rendered values with each reference resolved (see :func:`resolve`)."""
    session.waiting_managers.pop((connector, source_id), None)
    return {
        key: resolve(session, connector, source_id, text) if is_reference(key) else text
        for key, text in rendered.items()
    }


def resolve(session: Session, connector: str, source_id: str, manager: str | None) -> Value:
    """The manager's reference in the target, or ``None`` (waiting, or reported)."""
    if manager is None:
        return None
    remote = session.state.remote_id("user", connector, manager)
    if remote is not None:
        return UserRef(remote)
    if manager in session.directory(connector).users:
        session.waiting_managers[(connector, source_id)] = manager
    else:
        report(session, connector, source_id, manager, "is not in the directory (out of scope)")
    return None


async def user_created(session: Session, connector: str, source_id: str) -> None:
    """A user now exists in the target: send its attributes and point its reports at it.

    A user with a photo is marked for the photo pass (:mod:`.photo_delivery`), unless the
    photo went with the create.
    """
    user = session.directory(connector).users.get(source_id)
    sent = session.created_with_photo.pop((connector, source_id), None)
    if user is not None and user.photo_ref and sent is None:
        note(session, connector, source_id)
    if (connector, source_id) in session.created_with_attributes:
        session.created_with_attributes.discard((connector, source_id))
    else:
        await push_attributes(session, connector, source_id, created=True)
    references = session.attribute_map.references()
    if not references:
        return
    for report_id in session.reports_of(connector, source_id):
        if session.state.remote_id("user", connector, report_id) is not None:
            await push_attributes(session, connector, report_id, only=references)


def report_waiting(session: Session) -> None:
    """Report each manager still missing from the target at the end of a delivery."""
    held = session.seats.held() if session.waiting_managers else {}
    for (connector, source_id), manager in sorted(session.waiting_managers.items()):
        why = "is not in the target (not delivered)"
        if (connector, manager) in held:
            why = "is held for want of a seat (max_active_users)"
        report(session, connector, source_id, manager, why)
    session.waiting_managers.clear()


def report(session: Session, connector: str, source_id: str, manager: str, why: str) -> None:
    """Record that a user's manager cannot be referenced in the target (once a run)."""
    if (connector, source_id, manager) in session.unresolved_reported:
        return
    session.unresolved_reported.add((connector, source_id, manager))
    message = (
        f"manager {_who(session, connector, manager)} of user "
        f"{_who(session, connector, source_id, connector)} {why}; "
        "the manager reference is left empty"
    )
    session.result.bump("manager_unresolved")
    session.result.warnings.append(message)
    log.warning("target %s: %s", session.state.name, message)


def _who(session: Session, connector: str, source_id: str, *notes: str) -> str:
    """A user as a warning names them: ``'login' (source id, notes…)``, the id alone if unknown."""
    user = session.directory(connector).users.get(source_id)
    if user is None:
        return repr(source_id) + (f" ({', '.join(notes)})" if notes else "")
    return f"{user.login!r} ({', '.join((source_id, *notes))})"
