"""Entra groups side: member listings in ``$batch`` calls and groups with ``$expand=members``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from idpsync.config import ConfigError, parse_config
from idpsync.emulators import Fault, Latency
from idpsync.emulators.entra import EntraEmulator
from idpsync.emulators.tenant import TenantGroup
from idpsync.http import build_http_client, set_testing
from idpsync.http import client as http_client
from idpsync.http.settings import HttpSettings
from idpsync.model import Snapshot
from idpsync.sources.entra import batch as entra_batch
from idpsync.sources.entra import groups as entra_groups
from idpsync.sources.entra.batch import read_members
from idpsync.store import Store
from tests.sources.entra_support import EntraWorld, full_snapshot_requests
from tests.sources.test_entra_sync import assert_matches_tenant

MEMBERS = "/v1.0/groups/{id}/members"


@pytest.fixture(autouse=True)
def _no_waits() -> None:
    set_testing(True)


def world_on(tmp_path: Path, emu: EntraEmulator, **options: Any) -> EntraWorld:
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    return EntraWorld(emu, store, options={"fetch_managers": False, **options})


def listed(emu: EntraEmulator) -> set[str]:
    """Groups whose members were listed (one by one or inside a batch)."""
    return {
        r.path.split("/")[3]
        for log in (emu.requests, emu.batched)
        for r in log
        if r.path.endswith("/members")
    }


@pytest.mark.parametrize(
    ("batch", "expand"), [(True, True), (True, False), (False, True), (False, False)]
)
async def test_request_count_matches_the_formula(tmp_path: Path, batch: bool, expand: bool) -> None:
    emu = EntraEmulator.generate(users=300, groups=40, seed=7, medium_every=3)
    world = world_on(tmp_path, emu, batch=batch, expand_members=expand)
    result = await world.sync(mode="full")
    assert result.status == "succeeded", result.message
    assert_matches_tenant(world, managers=False)
    expected = full_snapshot_requests(emu, managers=False, photos=False, batch=batch, expand=expand)
    assert len(emu.requests) == expected
    truth = emu.tenant.ground_truth()
    big = {g for g, group in truth.groups.items() if len(group.members) >= 20}
    assert 0 < len(big) < len(truth.groups)  # the tenant has both kinds
    assert listed(emu) == (big if expand else set(truth.groups))
    if batch:
        assert emu.requests.count(MEMBERS) == 0
        assert emu.requests.count("/v1.0/$batch", method="POST") > 0
    world.store.close()


async def test_fewer_calls_than_one_per_listing(tmp_path: Path) -> None:
    emu = EntraEmulator.generate(users=300, groups=40, seed=7, medium_every=3)
    world = world_on(tmp_path, emu)
    await world.sync(mode="full")
    fast = len(emu.requests)
    emu.requests.clear()
    world.options = {"fetch_managers": False, "batch": False, "expand_members": False}
    await world.sync(mode="full")
    assert fast * 4 < len(emu.requests)  # 3 batch calls + 1 page of groups against 41 + 1
    world.store.close()


async def test_follow_up_pages_of_big_groups_ride_in_later_batches(tmp_path: Path) -> None:
    emu = EntraEmulator.generate(users=1100, groups=8, seed=2)
    world = world_on(tmp_path, emu)
    assert (await world.sync(mode="full")).status == "succeeded"
    assert_matches_tenant(world, managers=False)
    skips = [r for r in emu.batched if "skiptoken" in r.query]
    assert skips  # a group of more than 999 members was paged inside a batch
    assert len(emu.requests) == full_snapshot_requests(emu, managers=False, photos=False)
    world.store.close()


async def test_an_expansion_at_the_cap_is_paged(tmp_path: Path) -> None:
    emu = EntraEmulator.generate(users=300, groups=10, seed=7)
    t = emu.tenant
    users = t.user_ids[:40]
    t.add_group(TenantGroup("g-at-cap", "At the cap", members=dict.fromkeys(users[:20])))
    t.add_group(TenantGroup("g-below", "Below the cap", members=dict.fromkeys(users[:19])))
    world = world_on(tmp_path, emu)
    assert (await world.sync(mode="full")).status == "succeeded"
    assert "g-at-cap" in listed(emu) and "g-below" not in listed(emu)
    assert_matches_tenant(world, managers=False)
    world.store.close()


async def test_a_429_inside_a_batch_is_retried_after_its_retry_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [0.0]
    emu = EntraEmulator.generate(
        users=300, groups=40, seed=7, medium_every=3, clock=lambda: now[0], bucket_capacity=30
    )
    waits: list[float] = []

    async def advance(seconds: float) -> None:  # waiting moves the emulator's clock
        if seconds:
            waits.append(seconds)
        now[0] += seconds

    monkeypatch.setattr(http_client, "pause", advance)
    monkeypatch.setattr(entra_batch, "pause", advance)
    world = world_on(tmp_path, emu, expand_members=False)
    result = await world.sync(mode="full", http=HttpSettings(max_attempts=30))
    assert result.status == "succeeded", result.message
    assert_matches_tenant(world, managers=False)
    throttled = emu.batched.count("*", status=429)
    assert throttled > 0 and emu.requests.count("*", status=429) == 0  # the batches were 200
    assert result.stats["throttled"] == throttled
    assert waits and all(w >= 1 for w in waits)  # each round waited for the server's word
    world.store.close()


async def test_a_failing_item_marks_the_read_incomplete_naming_the_group(tmp_path: Path) -> None:
    emu = EntraEmulator.generate(users=300, groups=40, seed=7, medium_every=3)
    world = world_on(tmp_path, emu)
    assert (await world.sync(mode="full")).status == "succeeded"
    victim = next(iter(sorted(listed(emu))))
    emu.inject(Fault("status", f"/v1.0/groups/{victim}/members", status=503, times=0))
    emu.tenant.remove_member(victim, emu.tenant.member_list(victim)[0])
    result = await world.sync(mode="full")
    assert result.status == "partial"
    assert victim in result.message and "/groups/{id}/members" in result.message
    assert result.summary()["memberships_removed"] == 0
    assert emu.batched.count(f"/v1.0/groups/{victim}/members", status=503) > 1  # retried
    world.store.close()


async def test_a_404_item_is_incomplete_and_a_403_item_fails_the_run(tmp_path: Path) -> None:
    emu = EntraEmulator.generate(users=300, groups=40, seed=7, medium_every=3)
    world = world_on(tmp_path, emu)
    emu.inject(Fault("status", MEMBERS, nth=2, status=404))
    result = await world.sync(mode="full")
    assert result.status == "partial" and "404" in result.message
    emu.faults.clear()
    emu.inject(Fault("status", MEMBERS, nth=2, status=403))
    result = await world.sync(mode="full")
    assert result.status == "failed" and "GroupMember.Read.All" in result.message
    world.store.close()


BASE = "https://graph.test/v1.0"


def scripted(answer: Any) -> tuple[Any, list[str]]:
    sent: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(str(request.url))
        return answer(json.loads(request.content)["requests"])

    http = build_http_client(
        HttpSettings(max_attempts=2), base_url=BASE, transport=httpx.MockTransport(handle)
    )
    return http, sent


def item(request: dict[str, Any], body: Any, status: int = 200) -> dict[str, Any]:
    return {"id": request["id"], "status": status, "headers": {}, "body": body}


@pytest.mark.parametrize(
    ("page", "reason"),
    [
        ({"value": [], "@odata.nextLink": "https://evil.test/v1.0/groups/a/members"}, "origin"),
        ({"value": [], "@odata.nextLink": "https://graph.test/other/groups/a/members"}, "base"),
        ({"nothing": []}, "'value'"),
    ],
    ids=["foreign-origin", "outside-base", "no-value"],
)
async def test_a_bad_item_page_is_not_followed_and_marks_incomplete(
    page: dict[str, Any], reason: str
) -> None:
    http, sent = scripted(
        lambda reqs: httpx.Response(200, json={"responses": [item(r, page) for r in reqs]})
    )
    snap = Snapshot()
    found = await read_members(http, snap, ["a"], "id")
    await http.aclose()
    assert found == {"a": None}
    assert (
        not snap.complete
        and reason in " ".join(snap.incomplete_reasons)
        and "(a)" in " ".join(snap.incomplete_reasons)
    )
    assert all(url == f"{BASE}/$batch" for url in sent) and len(sent) == 1


async def test_a_missing_or_repeated_answer_marks_incomplete() -> None:
    loop = f"{BASE}/groups/b/members?$top=999&$select=id"

    def answer(reqs: list[dict[str, Any]]) -> httpx.Response:
        kept = [r for r in reqs if "/a/" not in r["url"]]  # no answer for group a
        body = {"value": [{"id": "u"}], "@odata.nextLink": loop}
        return httpx.Response(200, json={"responses": [item(r, body) for r in kept]})

    http, sent = scripted(answer)
    snap = Snapshot()
    found = await read_members(http, snap, ["a", "b"], "id")
    await http.aclose()
    assert found == {"a": None, "b": None}
    assert "no response" in " ".join(snap.incomplete_reasons) and "repeats" in " ".join(
        snap.incomplete_reasons
    )
    assert len(sent) == 2  # b's link once, then refused when it came back


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("batch_size = 21", "less than or equal to 20"),
        ("batch_size = 0", "greater than or equal to 1"),
        ('batch = "often"', "batch"),
        ('expand_members = "yes please"', "expand_members"),
    ],
)
def test_bad_batch_settings_are_named(line: str, words: str) -> None:
    body = (
        '[connectors.e.source]\ntype = "entra"\ntenant = "t"\nclient_id = "c"\n'
        f'client_secret = "env:NOPE"\n{line}\n'
    )
    with pytest.raises(ConfigError) as error:
        parse_config(body)
    assert words in str(error.value)
    assert line.split(" ")[0] in str(error.value)


async def test_a_401_item_renews_the_token_once(tmp_path: Path) -> None:
    emu = EntraEmulator.generate(users=300, groups=40, seed=7, medium_every=3)
    world = world_on(tmp_path, emu)
    emu.inject(Fault("expired_token", MEMBERS, nth=3))
    result = await world.sync(mode="full")
    assert result.status == "succeeded", result.message
    assert emu.requests.count("/{tenant}/oauth2/v2.0/token", method="POST") == 2
    emu.faults.clear()
    emu.inject(Fault("expired_token", MEMBERS, nth=3, times=0))
    result = await world.sync(mode="full")
    assert result.status == "failed" and "401" in result.message
    world.store.close()


async def test_member_rounds_start_before_the_last_groups_page(tmp_path: Path) -> None:
    emu = EntraEmulator.generate(users=300, groups=250, seed=7, latency=Latency(fixed_ms=5))
    world = world_on(tmp_path, emu)
    result = await world.sync(mode="full")
    assert result.status == "succeeded", result.message
    assert_matches_tenant(world, managers=False)
    assert emu.requests.count("/v1.0/groups") == 0  # only the token is sent on its own
    assert emu.requests.count("/v1.0/users") == 0
    log = [r.path for r in emu.batched]  # the groups and users pages ride in the batches too
    groups = [i for i, x in enumerate(log) if x == "/v1.0/groups"]
    members = [i for i, x in enumerate(log) if x.endswith("/members")]
    assert len(groups) == 3  # pages of 100 with $expand
    assert members and members[0] < groups[-1]
    # Deterministic: each groups page's member listings start in the next round.
    assert len(emu.requests) == full_snapshot_requests(emu, managers=False, photos=False)
    world.store.close()


async def test_the_budget_counts_every_item_of_a_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each batch call takes its own token plus one per further item, as Graph charges items."""
    from idpsync.http.budget import RequestBudget

    extra: list[int] = []
    original = RequestBudget.take

    async def counting(self: RequestBudget, units: int) -> None:
        extra.append(units)
        await original(self, units)

    monkeypatch.setattr(RequestBudget, "take", counting)
    emu = EntraEmulator.generate(users=300, groups=40, seed=7, medium_every=3)
    world = world_on(tmp_path, emu)
    assert (await world.sync(mode="full")).status == "succeeded"
    calls = emu.requests.count("/v1.0/$batch", method="POST")
    assert calls > 0 and len(extra) == calls
    assert calls + sum(extra) == len(emu.batched)
    world.store.close()


async def test_a_listings_edges_are_taken_while_later_rounds_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member listing's edges go to the stage when it ends, not all after the last answer."""
    emu = EntraEmulator.generate(users=3000, groups=40, seed=7, medium_every=3)
    world = world_on(tmp_path, emu, memberships="groups")
    taken: list[int] = []  # requests answered when a listed group's edges were taken
    add_edges = entra_groups.add_edges

    def spy(snap: Snapshot, group_id: str, items: Any, sink: Any = None) -> Any:
        if items is not None and len(items) >= 20:  # listed apart (an expansion holds < 20)
            taken.append(len(emu.requests))
        return add_edges(snap, group_id, items, sink)

    monkeypatch.setattr(entra_groups, "add_edges", spy)
    assert (await world.sync(mode="full")).status == "succeeded"
    assert_matches_tenant(world, managers=False)
    assert taken and min(taken) < len(emu.requests)  # before the read's last batch call
    world.store.close()
