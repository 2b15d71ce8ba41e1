"""Photos without a server: which key carries them, what a configuration may ask, SCIM's ops."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from pydantic import ValidationError

from idpsync.config import TargetSettings
from idpsync.config_photos import photo_setting
from idpsync.photos import Photo, digest
from idpsync.targets import scim_protocol as proto
from idpsync.targets.attributes import AttributeMap


def settings(kind: str, attributes: dict[str, str], **extra: Any) -> TargetSettings:
    url = "ldap://ldap.example.org" if kind == "ldap" else "https://app.example.org/v2"
    more: dict[str, Any] = {
        "crowd": {"application": "idpsync", "password": "env:IDPSYNC_NO_SUCH_SECRET_ENV"},
        "ldap": {
            "bind_dn": "cn=admin,dc=example,dc=org",
            "password": "env:IDPSYNC_NO_SUCH_SECRET_ENV",
            "ldap": {
                "base_dn": "dc=example,dc=org",
                "users_dn": "ou=people,dc=example,dc=org",
                "groups_dn": "ou=groups,dc=example,dc=org",
            },
        },
    }.get(kind, {})
    return TargetSettings.model_validate(
        {"type": kind, "url": url, "attributes": attributes, **more, **extra}
    )


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDPSYNC_NO_SUCH_SECRET_ENV", "not-used")


def test_photos_are_on_by_default_except_for_atlassian_and_crowd() -> None:
    assert photo_setting("scim", "generic", {}) == "photo"
    assert photo_setting("ldap", "generic", {}) == "photo"
    assert photo_setting("scim", "atlassian", {}) is None
    assert photo_setting("scim", "atlassian", {"photos": "photo"}) == "photo"
    assert photo_setting("crowd", "generic", {}) is None


def test_the_same_attributes_table_turns_the_photo_off_or_picks_the_type() -> None:
    assert photo_setting("scim", "generic", {"photos": ""}) is None
    assert photo_setting("ldap", "generic", {"jpegPhoto": " "}) is None
    assert photo_setting("scim", "generic", {"photos": "thumbnail"}) == "thumbnail"
    assert settings("scim", {"photos": "thumbnail"}).attributes == {"photos": "thumbnail"}


@pytest.mark.parametrize(
    ("kind", "attributes", "problem"),
    [
        ("scim", {"photos": "{{ attributes.photo }}"}, 'takes "photo" or "thumbnail"'),
        ("ldap", {"jpegPhoto": "thumbnail"}, 'takes "photo", or ""'),
        ("crowd", {"avatar": "photo"}, "no call that sets a user's avatar"),
        ("crowd", {"jpegPhoto": "photo"}, "remove attributes.jpegPhoto"),
    ],
)
def test_a_photo_key_that_cannot_work_is_a_configuration_error(
    kind: str, attributes: dict[str, str], problem: str
) -> None:
    with pytest.raises(ValidationError, match=problem):
        settings(kind, attributes)


def test_a_crowd_attribute_that_merely_mentions_photos_is_a_template() -> None:
    loaded = settings("crowd", {"avatar": "{{ attributes.avatarUrl }}"})
    assert "avatar" in AttributeMap.build("crowd", loaded.attributes).templates


def test_the_photo_key_is_not_rendered_as_a_text_attribute() -> None:
    assert "photos" not in AttributeMap.build("scim", {"photos": "photo"}).templates
    assert "jpegPhoto" not in AttributeMap.build("ldap", {}).templates


def test_scim_photo_is_a_data_uri_replacing_all_photos_and_none_removes_them() -> None:
    data = b"\x89PNG\r\n\x1a\nabc"
    photo = Photo(digest(data), "image/png", data)
    (op,) = proto.photo_ops(photo, "thumbnail")
    assert (op["op"], op["path"]) == ("replace", "photos")
    (value,) = op["value"]
    assert (value["type"], value["primary"]) == ("thumbnail", True)
    head, _, encoded = value["value"].partition(",")
    assert head == "data:image/png;base64" and base64.b64decode(encoded) == data
    assert proto.photo_ops(None, "photo") == [{"op": "remove", "path": "photos"}]
