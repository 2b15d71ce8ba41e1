"""Directory API answers' JSON text: each user, group and member rendered once per tenant version.

A full read at L asks for 200 users pages of 500, and for about a million member entries on
≈5,000 member pages of up to 200, inside batches that the emulator answers one call after the
other on one core. Rendering each resource and ``json.dumps``-ing every page anew put the
emulator's own CPU on the read's critical path (issue #20), though Google renders a batch's
calls within its latency. Here each resource's JSON text is made once per tenant version (a
user's per projection), a page's list is a :class:`Rendered` list of those texts, and
:func:`dumps` splices them in as is: the bytes are those ``json.dumps(body)`` gave before.

:func:`warm` makes a plain read's texts before the emulator listens on a port. Any change
through the tenant's methods (the control API) bumps its ``version``; making a user
super admin, which is no change in the tenant's log, bumps the Google tenant's ``marks``.
Either drops every table here.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from idpsync.emulators.google.resources import render_group, render_member, render_user
from idpsync.emulators.google.tenant import GoogleTenant

ENCODE = json.JSONEncoder().encode
"""``json.dumps(value)`` (ASCII, ``", "`` and ``": "``) without building an encoder each call."""


class Rendered(list[str]):
    """A JSON array whose items are JSON text already (see :func:`dumps`)."""


def dumps(value: Any) -> str:
    """``json.dumps(value)``, each :class:`Rendered` list spliced in as is.

    Only dicts holding a :class:`Rendered` list are walked (an answer's envelope); any other
    value is encoded whole.
    """
    if isinstance(value, Rendered):
        return "[" + ", ".join(value) + "]"
    if isinstance(value, dict) and any(isinstance(v, Rendered) for v in value.values()):
        return "{" + ", ".join(f"{ENCODE(k)}: {dumps(v)}" for k, v in value.items()) + "}"
    return ENCODE(value)


def _table(t: GoogleTenant, key: tuple[Any, ...]) -> dict[Any, str]:
    """The texts ``key`` of the tenant's current version (every table dropped on a change)."""
    return t.texts.table((t.version, t.marks, len(t.users), len(t.groups)), key)


def user(t: GoogleTenant, user_id: str, schemas: Collection[str] | None) -> str:
    """A live user's resource (:func:`render_user` with ``schemas``) as JSON text."""
    texts = _table(t, ("user", None if schemas is None else frozenset(schemas)))
    text = texts.get(user_id)
    if text is None:
        text = texts[user_id] = ENCODE(render_user(t, t.users[user_id], None, schemas))
    return text


def group(t: GoogleTenant, group_id: str) -> str:
    """A group's resource (:func:`render_group`) as JSON text."""
    texts = _table(t, ("group",))
    text = texts.get(group_id)
    if text is None:
        text = texts[group_id] = ENCODE(render_group(t, group_id))
    return text


def member(t: GoogleTenant, member_id: str, role: str) -> str:
    """A member entry (:func:`render_member`) as JSON text; a member is in about ten groups."""
    texts = _table(t, ("member", role))
    text = texts.get(member_id)
    if text is None:
        text = texts[member_id] = ENCODE(render_member(t, member_id, role))
    return text


def warm(t: GoogleTenant) -> None:
    """Make now what a plain full read asks for: users (``basic``), groups, member entries.

    The emulator does this before it listens on a port, so that a read served one call after
    the other on one core does not render each resource the first time on its critical path
    (Google serves stored resources within its latency). A change drops them as above.
    """
    for user_id in t.user_ids:
        user(t, user_id, frozenset())
    for group_id in t.group_ids:
        group(t, group_id)
        direct = t.member_list(group_id)
        for position, member_id in enumerate(direct):
            member(t, member_id, "OWNER" if position == 0 else "MEMBER")
