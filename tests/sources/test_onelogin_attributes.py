"""OneLogin: a v2 user's ``custom_attributes`` reach ``attributes.custom_attributes``."""

from __future__ import annotations

import pytest

from idpsync.config_policy import MappingSettings
from idpsync.emulators.onelogin import OneLoginEmulator
from idpsync.engine.mapping import Mapper
from idpsync.sources.onelogin.mapping import PRESET
from tests.sources.onelogin_support import connector, full_requests, source

pytestmark = pytest.mark.usefixtures("no_sleep")


async def test_custom_attributes_are_one_object_a_template_can_read() -> None:
    emu = OneLoginEmulator.generate(users=60, groups=4, roles=3, seed=2)
    some = emu.account.user_ids[7]
    emu.account.update_user(some, custom_attributes={"badge": "B-7", "site": None, "cc": "42"})
    src = source(emu, connector(emu, parallel_pages=False))
    snap = await src.snapshot()
    await src.aclose()
    assert snap.complete, snap.incomplete_reasons
    user = next(u for u in snap.users if u.source_id == str(some))
    assert user.attributes["custom_attributes"] == {"badge": "B-7", "cc": "42"}
    assert len(emu.requests) == full_requests(60, 4, 3, "groups")
    mapping = MappingSettings(attributes={"badge": "{{ attributes.custom_attributes.badge }}"})
    assert Mapper.build(mapping, PRESET).map_user(user).attributes["badge"] == "B-7"
