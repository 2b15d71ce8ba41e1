"""Policy: turns a connector's staged snapshot into the directory state it should produce.

The foundation's policy is deliberately plain: every user and group of the snapshot is kept,
fields are taken as the source normalised them, and membership edges that point at objects
outside the snapshot (service principals, devices, contacts, groups not read) are dropped.
"""

from __future__ import annotations

from idpsync.config import PolicySettings
from idpsync.model import DirectoryState, DirGroup, DirUser, MemberKind, Snapshot


def desired_state(snapshot: Snapshot, settings: PolicySettings) -> DirectoryState:
    """The directory state the snapshot asks for under ``settings``."""
    del settings  # no options shape the plain policy yet
    state = DirectoryState()
    for user in snapshot.users:
        state.users[user.source_id] = DirUser(
            source_id=user.source_id,
            login=user.login,
            email=user.email,
            display_name=user.display_name,
            given_name=user.given_name,
            family_name=user.family_name,
            active=user.active,
            manager_id=user.manager_id,
            photo_ref=user.photo_ref,
            attributes=dict(user.attributes),
        )
    for group in snapshot.groups:
        state.groups[group.source_id] = DirGroup(
            source_id=group.source_id, name=group.name, description=group.description
        )
    for edge in snapshot.memberships:
        if edge.group_id not in state.groups:
            continue
        known = state.users if edge.member_kind is MemberKind.USER else state.groups
        if edge.member_id in known and edge.member_id != edge.group_id:
            state.memberships.add(edge)
    return state
