"""Google custom schemas: read only when ``custom_schemas`` names them, at no extra request."""

from __future__ import annotations

import time

import pytest

from idpsync.emulators.google import GoogleEmulator
from idpsync.sources.google import incremental
from idpsync.sources.google.endpoints import USER, projection
from idpsync.sources.google.fetch import fetch_many
from tests.sources.google_support import rolling_range, sa_settings, source

USERS = "/admin/directory/v1/users"


pytestmark = pytest.mark.usefixtures("no_sleep")


@pytest.fixture
def emu() -> GoogleEmulator:
    emu = GoogleEmulator.generate(users=620, groups=30, seed=4)
    t = emu.tenant
    for n, uid in enumerate(t.user_ids[:40]):
        t.update_user(
            uid,
            custom={"HR": {"badge": f"B-{n}", "sites": ["Oslo", "Bergen"]}, "IT": {"vpn": "yes"}},
            cost_center=f"CC-{n % 3}",
        )
    return emu


def _hr(n: int) -> dict[str, object]:
    return {"badge": f"B-{n}", "sites": [{"value": "Oslo"}, {"value": "Bergen"}]}


async def test_default_reads_no_custom_schema(emu: GoogleEmulator) -> None:
    t = emu.tenant
    src = source(emu)
    snap = await src.snapshot()
    await src.aclose()
    assert snap.complete
    first = next(u for u in snap.users if u.source_id == t.gid(t.user_ids[0]))
    assert "customSchemas" not in first.attributes
    assert first.attributes["organizations"][0]["costCenter"] == "CC-0"
    assert not any("projection" in r.query for r in emu.batched if r.path == USERS)


async def test_listed_schemas_reach_the_attributes_at_the_same_cost(emu: GoogleEmulator) -> None:
    t = emu.tenant
    src = source(emu, sa_settings(emu, custom_schemas=["HR"]))
    snap = await src.snapshot()
    await src.aclose()
    assert snap.complete, snap.incomplete_reasons
    users = {u.source_id: u for u in snap.users}
    for n, uid in enumerate(t.user_ids[:40]):
        assert users[t.gid(uid)].attributes["customSchemas"] == {"HR": _hr(n)}
    assert "customSchemas" not in users[t.gid(t.user_ids[40])].attributes
    assert len(emu.requests) in rolling_range(t)
    queries = [r.query for r in emu.batched if r.path == USERS]  # calls in the batches
    assert queries and all("projection=custom&customFieldMask=HR" in q for q in queries)


async def test_star_reads_every_schema_with_the_full_projection(emu: GoogleEmulator) -> None:
    t = emu.tenant
    src = source(emu, sa_settings(emu, custom_schemas=["*"]))
    snap = await src.snapshot()
    one = await src.fetch_user(t.login(t.users[t.user_ids[2]]))
    await src.aclose()
    users = {u.source_id: u for u in snap.users}
    expected = {"HR": _hr(2), "IT": {"vpn": "yes"}}
    assert users[t.gid(t.user_ids[2])].attributes["customSchemas"] == expected
    assert one is not None and one.users[0].attributes["customSchemas"] == expected
    assert all("projection=full" in r.query for r in emu.batched if r.path == USERS)


async def test_single_user_and_batched_reads_ask_for_the_schemas(emu: GoogleEmulator) -> None:
    t = emu.tenant
    settings = sa_settings(emu, custom_schemas=["IT", "HR"], batch_size=10)
    src = source(emu, settings)
    one = await src.fetch_user(t.login(t.users[t.user_ids[1]]))
    assert one is not None
    assert one.users[0].attributes["customSchemas"] == {"HR": _hr(1), "IT": {"vpn": "yes"}}
    emails = [t.login(t.users[uid]) for uid in t.user_ids[:3]]
    bodies = await fetch_many(src, USER, "userKey", emails, projection(settings))
    await src.aclose()
    assert [b["customSchemas"]["HR"] for b in bodies if b] == [_hr(n) for n in range(3)]
    assert emu.requests.count("/batch/admin/directory_v1", method="POST") == 1
    inner = [r.query for r in emu.batched]
    assert inner and all(q == "projection=custom&customFieldMask=IT,HR" for q in inner)


def test_setting_rejects_a_star_among_names() -> None:
    emu = GoogleEmulator.generate(users=3, groups=1)
    with pytest.raises(ValueError, match="stands alone"):
        sa_settings(emu, custom_schemas=["*", "HR"])
    with pytest.raises(ValueError, match="one schema name"):
        sa_settings(emu, custom_schemas=["HR,IT"])


def test_other_schemas_make_the_next_incremental_read_a_full_one() -> None:
    emu = GoogleEmulator.generate(users=3, groups=1)
    plain = sa_settings(emu, incremental="reports")
    hr = sa_settings(emu, incremental="reports", custom_schemas=["HR"])
    state = incremental.marks(time.time(), time.time(), plain)
    assert incremental.due_for_full(state, plain) is False
    assert incremental.due_for_full(state, hr) is True
    saved = incremental.marks(time.time(), time.time(), hr)
    assert saved[incremental.READS] == "projection=custom&customFieldMask=HR"
    assert incremental.due_for_full(saved, hr) is False
    older = {k: v for k, v in state.items() if k != incremental.READS}  # saved before
    assert incremental.due_for_full(older, plain) is False
