"""Reconcile: mapped attributes changed in the target behind idpsync's back are put back.

A reconcile reads every target user with the mapped attributes the target can read back
(:attr:`~idpsync.targets.base.RemoteUser.attributes`: SCIM values of core paths and of the
extensions the server advertises, LDAP attributes, Crowd user attributes). After every user is
matched, each matched user's attributes are compared with what the directory's user renders
now; those that differ are set again with ``set_attributes`` (a blank value removes the
attribute), counted as ``attributes_repaired`` (users) and named in a warning.

- An attribute the target cannot read back (a SCIM path with a value filter) is not compared.
- A manager reference is compared only when it can be decided: the manager is in the target
  (then the reference must name them) or the template renders blank (then there must be
  none). A manager not in the target, or out of scope, leaves the held reference as it is
  (and is reported, as in a delivery): a reference is never removed for want of knowledge.
- Users created by the reconcile got their attributes in the create; those whose manager
  reached the target later in the reconcile get the reference (:func:`settle_waiting`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from idpsync.targets.attribute_delivery import push_attributes, report_waiting, resolved
from idpsync.targets.attributes import AttributeTarget, Held, Value, differs, is_reference
from idpsync.targets.base import RemoteUser
from idpsync.targets.errors import Rejected
from idpsync.targets.state import FailureKey
from idpsync.templating import TemplateProblem

if TYPE_CHECKING:
    from idpsync.targets.session import Session

log = logging.getLogger("idpsync.targets")

Key = tuple[str, str]


def readable(session: Session) -> list[str]:
    """The mapped attributes a reconcile asks the target to read back (none: not compared)."""
    if not isinstance(session.target, AttributeTarget):
        return []
    return list(session.attribute_map.templates)


async def repair_all(session: Session, matched: Mapping[Key, tuple[str, RemoteUser]]) -> None:
    """Put back the drifted mapped attributes of every matched user, one step each."""
    for (connector, sid), (remote_id, remote) in sorted(matched.items()):
        step = functools.partial(repair, session, connector, sid, remote_id, remote)
        await session.attempt(FailureKey("user", connector, sid), 0, "reconcile", step)


def drift(
    wanted: Mapping[str, Value], rendered: Mapping[str, str | None], held: Mapping[str, Held]
) -> dict[str, Value]:
    """The wanted values the target holds otherwise (only keys it could read back)."""
    out: dict[str, Value] = {}
    for key, value in wanted.items():
        if key not in held:
            continue  # cannot be read back: not compared
        if value is None and is_reference(key) and rendered.get(key) is not None:
            continue  # the manager cannot be resolved now: the held reference stays
        if differs(value, held[key]):
            out[key] = value
    return out


async def repair(
    session: Session, connector: str, sid: str, remote_id: str, remote: RemoteUser
) -> None:
    """Set again the mapped attributes of one user that differ in the target."""
    user = session.directory(connector).users.get(sid)
    target = session.target
    if user is None or remote.attributes is None or not isinstance(target, AttributeTarget):
        return
    try:
        rendered = session.attribute_map.render(user)
    except TemplateProblem as exc:
        raise Rejected(f"the target's attribute mapping failed for {user.login}: {exc}") from None
    changed = drift(resolved(session, connector, sid, rendered), rendered, remote.attributes)
    if not changed:
        return
    await target.set_attributes(remote_id, changed)
    session.result.bump("attributes_repaired")
    message = (
        f"mapped attributes of user {user.login!r} ({connector}) differed in the target and "
        f"were set again: {', '.join(sorted(changed))}"
    )
    session.result.warnings.append(message)
    log.warning("target %s: %s", session.state.name, message)


async def settle_waiting(session: Session) -> None:
    """Send the references whose manager reached the target later in the run; report the rest.

    A user created before its manager in a reconcile gets the reference here.
    """
    references = session.attribute_map.references()
    for (connector, sid), manager in sorted(session.waiting_managers.items()):
        if session.state.remote_id("user", connector, manager) is None:
            continue
        step = functools.partial(push_attributes, session, connector, sid, only=references)
        await session.attempt(FailureKey("user", connector, sid), 0, "reconcile", step)
    report_waiting(session)
