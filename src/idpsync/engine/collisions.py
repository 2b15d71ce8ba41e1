"""Collisions: logins, e-mails and group names that two owners would share.

Names are compared after Unicode NFKC normalisation and case folding (``store.fold``), and
then by their TR39 confusables skeleton (:mod:`~idpsync.engine.skeleton`), so
``Ada@Example.org``, ``ada@example.org``, ``ａｄａ@example.org`` and ``аda@example.org``
(Cyrillic а) are one name. Logins and group names with invisible or bidi control characters
(zero-width space, soft hyphen, right-to-left override …) are refused first: skipped with
the character named. A collision is never settled by overwriting or merging:

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

from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, field

from idpsync.engine.policy import PolicyResult
from idpsync.engine.skeleton import collision_key, fold, forbidden_character
from idpsync.model import DirectoryState

__all__ = ["Taken", "fold", "resolve", "settle"]


@dataclass(frozen=True)
class Taken:
    """Names held outside the connector: collision key → who holds it (for the message)."""

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
    _refuse_invisible(result)
    relinks = _logins(result, current, taken, relink=relink)
    if unique_emails:
        _unique(result, current, "email", taken.emails)
    _groups(result, current, taken.group_names)
    return relinks


def _by_key(items: Mapping[str, str | None], named: Container[str] = ()) -> dict[str, list[str]]:
    """Source ids by the collision key of their name, for the keys that may collide.

    Only keys that two or more names share, or that ``named`` holds (taken elsewhere): a key
    of one name and nobody else's collides with nothing, and every caller passes over it.
    Keys in the order of their smallest id, each key's ids sorted (as strings: they are
    unique): the order of walking every id sorted, without sorting them all (at L 100k ids
    once each for logins and e-mails, and again in each :func:`settle`, for the few that
    collide).
    """
    keys: dict[str, list[str]] = {}
    for sid, name in items.items():
        if name:
            key = collision_key(name)
            if (same := keys.get(key)) is None:
                keys[key] = [sid]
            else:
                same.append(sid)
    kept = [(key, sorted(sids)) for key, sids in keys.items() if len(sids) > 1 or key in named]
    kept.sort(key=lambda pair: pair[1][0])
    return dict(kept)


def _alike(mine: str, names: list[str]) -> str:
    """`` (looks like 'ada')`` when another name of the group is spelt differently."""
    others = sorted({n for n in names if fold(n) != fold(mine)})
    return f" (looks like {', '.join(repr(n) for n in others)})" if others else ""


def _refuse_invisible(result: PolicyResult) -> None:
    """Skip users and groups whose login or name carries an invisible or bidi character."""
    users = result.desired.users
    # only the few offenders sorted, not every user (skipped in source-id order as before)
    found = {s: c for s, u in users.items() if (c := forbidden_character(u.login)) is not None}
    for sid, named in sorted(found.items()):
        login = users[sid].login
        result.skip_user(
            sid,
            login,
            f"login {login!r} contains {named}, an invisible or bidi control "
            "character that makes it look like another name; fix the login in the IdP "
            "or the mapping",
        )
    for sid, group in sorted(result.desired.groups.items()):
        if (char := forbidden_character(group.name)) is not None:
            result.skip_group(
                sid,
                group.name,
                f"group name {group.name!r} contains {char}, an invisible or bidi control "
                "character that makes it look like another name; rename the group in the IdP "
                "or with policy.groups.rename",
            )


def _keeper(sids: list[str], key: str, holder: Callable[[str], str | None]) -> str | None:
    """Which of ``sids`` already holds ``key`` in the directory (and so keeps it)."""
    for sid in sids:
        name = holder(sid)
        if name is not None and collision_key(name) == key:
            return sid
    return None


def _logins(
    result: PolicyResult, current: DirectoryState, taken: Taken, *, relink: bool
) -> dict[str, str]:
    desired = result.desired.users
    owners = {fold(u.login): sid for sid, u in sorted(current.users.items())}
    relinks: dict[str, str] = {}
    names = {sid: u.login for sid, u in desired.items()}
    for key, sids in _by_key(names, taken.logins).items():
        if (holder := taken.logins.get(key)) is not None:
            for sid in sids:
                login = desired[sid].login
                result.skip_user(
                    sid,
                    login,
                    f"login {login!r} already belongs to {holder}; nobody was overwritten",
                    collided=True,
                )
            continue
        if len(sids) > 1:
            logins = [desired[s].login for s in sids]
            keep = _keeper(
                sids, key, lambda s: current.users[s].login if s in current.users else None
            )
            for sid in sids:
                if sid != keep:
                    others = ", ".join(s for s in sids if s != sid)
                    login = desired[sid].login
                    result.skip_user(
                        sid,
                        login,
                        f"login {login!r}{_alike(login, logins)} is also computed for IdP "
                        f"user(s) {others}; fix the IdP data or the mapping",
                        collided=True,
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
    held_keys = {collision_key(v) for v in held.values() if v}
    for key, sids in _by_key(names, held_keys | taken.keys()).items():
        owner = taken.get(key) or (
            "a user of this connector that is skipped" if key in held_keys else None
        )
        if owner is None and len(sids) == 1:
            continue
        values = [names[s] for s in sids]
        keep = (
            None
            if owner
            else _keeper(
                sids, key, lambda s: getattr(current.users[s], attr) if s in current.users else None
            )
        )
        for sid in sids:
            if sid == keep:
                continue
            why = (
                f"already belongs to {owner}"
                if owner
                else ("is also computed for IdP user(s) " + ", ".join(s for s in sids if s != sid))
            )
            value = names[sid]
            result.skip_user(
                sid,
                desired[sid].login if sid in desired else sid,
                f"{attr} {value!r}{_alike(value, values)} {why}; nobody was overwritten",
                collided=True,
            )


def _groups(result: PolicyResult, current: DirectoryState, taken: Mapping[str, str]) -> None:
    desired = result.desired.groups
    for key, sids in _by_key({sid: g.name for sid, g in desired.items()}, taken).items():
        if (holder := taken.get(key)) is not None:
            for sid in sids:
                name = desired[sid].name
                result.skip_group(
                    sid,
                    name,
                    f"group name {name!r} already belongs to {holder}; the group was not synced",
                    collided=True,
                )
            continue
        if len(sids) == 1:
            continue
        group_names = [desired[s].name for s in sids]
        keep = _keeper(sids, key, lambda s: current.groups[s].name if s in current.groups else None)
        for sid in sids:
            if sid != keep:
                others = ", ".join(s for s in sids if s != sid)
                name = desired[sid].name
                result.skip_group(
                    sid,
                    name,
                    f"group name {name!r}{_alike(name, group_names)} is also the name of IdP "
                    f"group(s) {others}; rename one (policy.groups.rename)",
                    collided=True,
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
            if sid in current.users and collision_key(current.users[sid].login) == key:
                continue  # it holds this name already (a look-alike pair from before)
            login = desired[sid].login
            result.skip_user(
                sid,
                login,
                f"login {login!r} belongs to a former user of this "
                f"connector (IdP id {holder}) who stays in the directory; set "
                "policy.relink_recreated = true to give that account to this IdP "
                "user, or remove the old account",
                collided=True,
            )
            skipped.append(sid)
    return skipped
