"""Collisions: logins, e-mails and group names that two owners would share.

Names are compared after Unicode NFKC normalisation and case folding (``store.fold``), so
``Ada@Example.org``, ``ada@example.org`` and ``ａｄａ@example.org`` are one name. A collision is
never settled by overwriting or merging:

- two IdP users (or groups) that map to one name: the one the directory already holds under
  that name keeps it; every other one is skipped and reported (if none holds it, all are);
- a name that belongs to a local object (``connector`` NULL) or to another connector: the
  IdP's object is skipped and reported;
- a login held by a *former* user of this connector who stays in the directory (deactivated,
  anonymised, kept, or waiting out a grace period; e.g. deleted and re-created in the IdP with
  a new id): skipped (:func:`settle`, after cleanup), unless ``policy.relink_recreated`` is
  set and the IdP user is new, in which case the new IdP id takes over the existing account
  (a ``user.relink`` change).
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from idpsync.engine.policy import PolicyResult
from idpsync.model import DirectoryState


def fold(text: str) -> str:
    """NFKC + case folding (the same key as ``idpsync.store.fold``)."""
    if text.isascii():  # NFKC leaves ASCII alone, and ASCII case folding is lower()
        return text.lower()
    return unicodedata.normalize("NFKC", text).casefold()


@dataclass(frozen=True)
class Taken:
    """Names held outside the connector: folded name → who holds it (for the message)."""

    logins: Mapping[str, str] = field(default_factory=dict)
    """Logins of local users and of other connectors' users."""
    emails: Mapping[str, str] = field(default_factory=dict)
    """E-mail addresses of local users and of other connectors' users."""
    group_names: Mapping[str, str] = field(default_factory=dict)
    """Names of local groups and of other connectors' groups."""


def resolve(
    result: PolicyResult,
    current: DirectoryState,
    taken: Taken,
    *,
    relink: bool = False,
    unique_emails: bool = True,
) -> dict[str, str]:
    """Skip colliding users and groups in ``result``; return relinks ``{new id: old id}``."""
    relinks = _logins(result, current, taken, relink=relink)
    if unique_emails:
        _unique(result, current, "email", taken.emails)
    _groups(result, current, taken.group_names)
    return relinks


def _by_key(items: Mapping[str, str | None]) -> dict[str, list[str]]:
    keys: dict[str, list[str]] = defaultdict(list)
    for sid, name in sorted(items.items()):
        if name:
            keys[fold(name)].append(sid)
    return keys


def _keeper(sids: list[str], key: str, holder: Callable[[str], str | None]) -> str | None:
    """Which of ``sids`` already holds ``key`` in the directory (and so keeps it)."""
    for sid in sids:
        name = holder(sid)
        if name is not None and fold(name) == key:
            return sid
    return None


def _logins(
    result: PolicyResult, current: DirectoryState, taken: Taken, *, relink: bool
) -> dict[str, str]:
    desired = result.desired.users
    owners = {fold(u.login): sid for sid, u in sorted(current.users.items())}
    relinks: dict[str, str] = {}
    for key, sids in _by_key({sid: u.login for sid, u in desired.items()}).items():
        login = desired[sids[0]].login
        if key in taken.logins:
            for sid in sids:
                result.skip_user(
                    sid,
                    login,
                    f"login {login!r} already belongs to "
                    f"{taken.logins[key]}; nobody was overwritten",
                )
            continue
        if len(sids) > 1:
            keep = _keeper(
                sids, key, lambda s: current.users[s].login if s in current.users else None
            )
            for sid in sids:
                if sid != keep:
                    others = ", ".join(s for s in sids if s != sid)
                    result.skip_user(
                        sid,
                        login,
                        f"login {login!r} is also computed for IdP "
                        f"user(s) {others}; fix the IdP data or the mapping",
                    )
            sids = [keep] if keep else []
    if not relink:
        return relinks
    held = result.held_users  # after every skip above
    for sid, user in sorted(desired.items()):
        holder = owners.get(fold(user.login))
        if (
            sid not in current.users
            and holder is not None
            and holder not in desired
            and holder not in held
            and holder not in relinks.values()
        ):
            relinks[sid] = holder
    return relinks


def _unique(
    result: PolicyResult, current: DirectoryState, attr: str, taken: Mapping[str, str]
) -> None:
    desired = result.desired.users
    names = {sid: getattr(u, attr) for sid, u in desired.items()}
    held = {
        sid: getattr(current.users[sid], attr) for sid in result.held_users if sid in current.users
    }
    held_keys = {fold(v) for v in held.values() if v}
    for key, sids in _by_key(names).items():
        value = names[sids[0]]
        owner = taken.get(key) or (
            "a user of this connector that is skipped" if key in held_keys else None
        )
        keep = (
            None
            if owner
            else _keeper(
                sids, key, lambda s: getattr(current.users[s], attr) if s in current.users else None
            )
        )
        if owner is None and len(sids) == 1:
            continue
        for sid in sids:
            if sid == keep:
                continue
            why = (
                f"already belongs to {owner}"
                if owner
                else ("is also computed for IdP user(s) " + ", ".join(s for s in sids if s != sid))
            )
            result.skip_user(
                sid,
                desired[sid].login if sid in desired else sid,
                f"{attr} {value!r} {why}; nobody was overwritten",
            )


def _groups(result: PolicyResult, current: DirectoryState, taken: Mapping[str, str]) -> None:
    desired = result.desired.groups
    for key, sids in _by_key({sid: g.name for sid, g in desired.items()}).items():
        name = desired[sids[0]].name
        if key in taken:
            for sid in sids:
                result.skip_group(
                    sid,
                    name,
                    f"group name {name!r} already belongs to "
                    f"{taken[key]}; the group was not synced",
                )
            continue
        if len(sids) == 1:
            continue
        keep = _keeper(sids, key, lambda s: current.groups[s].name if s in current.groups else None)
        for sid in sids:
            if sid != keep:
                others = ", ".join(s for s in sids if s != sid)
                result.skip_group(
                    sid,
                    name,
                    f"group name {name!r} is also the name of IdP "
                    f"group(s) {others}; rename one (policy.groups.rename)",
                )


def settle(result: PolicyResult, current: DirectoryState, mapped: set[str]) -> list[str]:
    """After cleanup: skip mapped users whose login a user staying in the directory holds.

    ``result.desired`` now also holds users that cleanup keeps (deactivated, anonymised,
    waiting out a grace period) and skipped users kept as they are. A newly computed login
    that one of those still holds cannot be taken: that user is skipped (and kept as the
    directory has them). Returns the source ids skipped.
    """
    desired = result.desired.users
    skipped: list[str] = []
    for key, sids in _by_key({sid: u.login for sid, u in desired.items()}).items():
        if len(sids) < 2:
            continue
        stays = [s for s in sids if s not in mapped]
        holder = (
            stays[0]
            if stays
            else _keeper(
                sids, key, lambda s: current.users[s].login if s in current.users else None
            )
        )
        for sid in sids:
            if sid == holder or sid not in mapped:
                continue
            login = desired[sid].login
            result.skip_user(
                sid,
                login,
                f"login {login!r} belongs to a former user of this "
                f"connector (IdP id {holder}) who stays in the directory; set "
                "policy.relink_recreated = true to give that account to this IdP "
                "user, or remove the old account",
            )
            skipped.append(sid)
    return skipped
