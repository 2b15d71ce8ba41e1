"""Okta: every profile property, custom ones included, reaches ``attributes.profile``."""

from __future__ import annotations

from idpsync.model import SourceUser
from idpsync.sources.okta.records import to_user
from tests.sources.okta_support import emulator, expected_requests, source


async def test_base_and_custom_profile_properties_are_attributes() -> None:
    emu = emulator(users=120, groups=10)
    uid = emu.tenant.user_ids[5]
    emu.tenant.update_user(
        uid, cost_center="CC-5", division="R&D", company="Acme", employee_type="Contractor",
        custom={"x": {"badge": "B-5", "sites": ["Oslo", "Bergen"]}},
    )  # fmt: skip
    src = source(emu)
    snap = await src.snapshot()
    one = await src.fetch_user(uid)
    await src.aclose()
    assert snap.complete, snap.incomplete_reasons
    user: SourceUser = next(u for u in snap.users if u.source_id == uid)
    profile = user.attributes["profile"]
    assert profile["costCenter"] == "CC-5" and profile["division"] == "R&D"
    assert profile["organization"] == "Acme" and profile["userType"] == "Contractor"
    assert profile["badge"] == "B-5" and profile["sites"] == ["Oslo", "Bergen"]
    assert one is not None and one.users[0].attributes == user.attributes
    assert len(emu.requests) - 2 == expected_requests(emu)  # the single-user read: 2 more


def test_unknown_profile_properties_are_kept_and_nulls_dropped() -> None:
    raw = {
        "id": "00u1",
        "status": "ACTIVE",
        "profile": {"login": "a@x.test", "hireDate": "2024-01-02", "nickName": None},
    }
    user = to_user(raw, frozenset({"ACTIVE"}))
    assert user.attributes["profile"] == {"login": "a@x.test", "hireDate": "2024-01-02"}
