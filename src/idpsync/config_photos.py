"""Which target attribute carries a user's photo, and whether a target's configuration may ask.

A photo is bytes, not text, so it is not a template: in ``[targets.NAME.attributes]`` the
photo's key takes a keyword. SCIM: ``photos = "photo"`` (the default; the value is the SCIM
``type`` sent, ``"thumbnail"`` is the other one RFC 7643 names); LDAP: ``jpegPhoto = "photo"``
(the default). ``""`` turns the photo off, like any other mapped attribute.

The Atlassian Cloud SCIM profile sends no photo unless asked (Atlassian's user provisioning sets
no avatars). A Crowd target cannot receive photos at all — Crowd's application API
(``/rest/usermanagement/1``) has no call that sets a user's avatar — so a Crowd target whose
attributes ask for one is a configuration error rather than a silent no-op.
"""

from __future__ import annotations

from collections.abc import Mapping

PHOTO_KEYS: dict[str, str] = {"scim": "photos", "ldap": "jpegPhoto"}
"""Per kind of target: the attribute key that carries the photo."""

PHOTO_VALUES: dict[str, tuple[str, ...]] = {"scim": ("photo", "thumbnail"), "ldap": ("photo",)}
"""Per kind of target: the keywords the photo's key accepts (``""`` turns it off)."""

QUIET_PROFILES = frozenset({"atlassian"})
"""SCIM profiles that send no photo unless the configuration names the key."""

CROWD_ASKS = frozenset({"photos", "photo", "jpegphoto", "avatar"})
"""Keys (without case) with which a Crowd target's attributes would ask for the photo."""

CROWD_NO_AVATAR = (
    "a Crowd target cannot receive photos: Crowd's application REST API "
    "(/rest/usermanagement/1) has no call that sets a user's avatar (Jira's own avatar upload "
    "needs a Jira user's login, not the application's); remove attributes.{key}"
)


def photo_setting(kind: str, profile: str, attributes: Mapping[str, str]) -> str | None:
    """The photo keyword in effect for a target (``None``: no photo is delivered)."""
    key = PHOTO_KEYS.get(kind)
    if key is None:
        return None
    if key in attributes:
        return attributes[key].strip() or None
    if kind == "scim" and profile in QUIET_PROFILES:
        return None
    return PHOTO_VALUES[kind][0]


def check_photo_keys(kind: str, attributes: Mapping[str, str]) -> None:
    """Refuse a photo key with a value that is not a keyword, and any photo key for Crowd.

    Raises :class:`ValueError` with the key and what it accepts.
    """
    if kind == "crowd":
        for key, value in attributes.items():
            if key.casefold() in CROWD_ASKS and value.strip() == "photo":
                raise ValueError(CROWD_NO_AVATAR.format(key=key))
        return
    photo_key = PHOTO_KEYS.get(kind)
    if photo_key is None or photo_key not in attributes:
        return
    value = attributes[photo_key].strip()
    allowed = PHOTO_VALUES[kind]
    if value and value not in allowed:
        words = " or ".join(f'"{a}"' for a in allowed)
        raise ValueError(
            f"attributes.{photo_key} carries the user's photo (bytes, not a template): it takes "
            f'{words}, or "" to send no photo; got {value[:60]!r}'
        )
