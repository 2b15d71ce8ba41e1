"""Keycloak user attributes: read (``briefRepresentation=false``) when setting or policy asks."""

from __future__ import annotations

import time

import pytest

from idpsync.config import TargetSettings
from idpsync.config_attributes import DEFAULTS, templates_for
from idpsync.config_policy import MappingSettings, PolicySettings
from idpsync.emulators.keycloak import KeycloakEmulator
from idpsync.sources.keycloak import events
from idpsync.sources.keycloak.tree import reads_attributes, user_record
from idpsync.sources.shape import BadRecord
from tests.sources.keycloak_support import expected_requests, no_waits, source_for

__all__ = ["no_waits"]
USERS = "/admin/realms/acme/users"


def _emulator() -> KeycloakEmulator:
    emu = KeycloakEmulator.generate(users=120, groups=25, seed=4)
    for n, uid in enumerate(emu.tenant.user_ids[:30]):
        emu.tenant.update_user(
            uid, department=None, job_title=None, employee_id=None,
            custom={"any": {"costCenter": f"CC-{n}", "sites": ["Oslo", "Bergen"]}},
        )  # fmt: skip
    return emu


async def test_attributes_are_read_at_the_same_request_count() -> None:
    emu = _emulator()
    source = source_for(emu, page_size=50, members_page_size=20, user_attributes=True)
    snap = await source.snapshot()
    await source.aclose()
    assert snap.complete, snap.incomplete_reasons
    users = {u.source_id: u for u in snap.users}
    for n, uid in enumerate(emu.tenant.user_ids[:30]):
        want = {"costCenter": [f"CC-{n}"], "sites": ["Oslo", "Bergen"]}
        assert users[uid].attributes["attributes"] == want
    assert len(emu.requests) == expected_requests(emu, detection=1, page=50, mpage=20)
    listings = [r.query for r in emu.requests if r.path == USERS]
    assert listings and all("briefRepresentation=false" in q for q in listings)


async def test_default_reads_brief_users_and_keeps_no_attributes_anywhere() -> None:
    emu = _emulator()
    uid = emu.tenant.user_ids[0]
    source = source_for(emu)
    snap = await source.snapshot()
    one = await source.fetch_user(uid)  # by id: the full representation, attributes dropped
    await source.aclose()
    assert all("attributes" not in u.attributes for u in snap.users)
    assert one is not None and "attributes" not in one.users[0].attributes
    listings = [r.query for r in emu.requests if r.path == USERS]
    assert listings and all("briefRepresentation=true" in q for q in listings)


async def test_single_user_by_name_reads_attributes_when_on() -> None:
    emu = _emulator()
    uid = emu.tenant.user_ids[3]
    source = source_for(emu, user_attributes=True)
    for key in (uid, emu.tenant.users[uid].alias.lower()):
        one = await source.fetch_user(key)
        assert one is not None
        assert one.users[0].attributes["attributes"]["costCenter"] == ["CC-3"]
    await source.aclose()


def test_policy_that_mentions_attributes_turns_reading_on() -> None:
    mapped = PolicySettings(
        mapping=MappingSettings(attributes={"cc": "{{ attributes.attributes.costCenter | first }}"})
    )
    assert reads_attributes(None, mapped) is True
    assert reads_attributes(None, PolicySettings()) is False
    assert reads_attributes(None, None) is False
    assert reads_attributes(False, mapped) is False
    assert reads_attributes(True, None) is True


def test_a_target_template_that_mentions_attributes_turns_reading_on() -> None:
    scim = TargetSettings.model_validate({"type": "scim", "url": "https://scim.example/v2"})
    elsewhere = scim.model_copy(update={"connectors": ["other"]})
    off = scim.model_copy(update={"enabled": False})
    plain = scim.model_copy(update={"attributes": {k: "" for k in DEFAULTS["scim"]}})
    assert reads_attributes(None, None, templates_for({"a": scim}, "kc")) is True  # defaults
    assert reads_attributes(None, None, templates_for({"a": elsewhere, "b": off}, "kc")) is False
    assert reads_attributes(None, None, templates_for({"a": plain}, "kc")) is False
    assert reads_attributes(False, None, templates_for({"a": scim}, "kc")) is False


def test_attributes_of_the_wrong_shape_make_the_record_unusable() -> None:
    raw = {"id": "u1", "username": "ann", "attributes": {"x": "not a list"}}
    with pytest.raises(BadRecord):
        user_record(raw, attributes=True)
    assert "attributes" not in user_record(raw).attributes
    bare = user_record({"id": "u2", "username": "bo"}, attributes=True)
    assert bare.attributes["attributes"] == {}


def test_turning_attributes_on_makes_the_next_event_read_a_full_one() -> None:
    emu = _emulator()
    plain = source_for(emu, admin_events=True)
    keeping = source_for(emu, admin_events=True, user_attributes=True)
    now = time.time()
    state = events.new_state(1_000, 300, now - 60)
    assert plain.wants_full(state) is False
    assert keeping.wants_full(state) is True
    kept = events.new_state(1_000, 300, now - 60, attributes=True)
    assert keeping.wants_full(kept) is False and plain.wants_full(kept) is True
