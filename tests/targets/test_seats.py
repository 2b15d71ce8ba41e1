"""The seat budget: release order, holding past ``max_active_users``, never deactivating.

Delivery runs into the Crowd emulator in-process, whose licence has a seat count (as in Crowd,
the emulator accepts users past it and only records the excess, so a test sees any excess).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from idpsync.config import TargetOptions
from idpsync.emulators.crowd import CrowdEmulator
from idpsync.service.conditions import target_conditions
from idpsync.store import Store
from idpsync.targets.seats import HeldUser, held_users, seat_order
from idpsync.targets.state import TargetState
from tests.targets.crowd_support import deliver_to
from tests.targets.scim_support import Directory


def _held(sid: str, seq: int) -> HeldUser:
    return HeldUser("hr", sid, sid, seq, "user.create", "no seat left")


def test_release_order_is_priority_groups_then_creation_order() -> None:
    queue = [_held("a", 5), _held("b", 1), _held("c", 3), _held("d", 2), _held("e", 4)]
    groups = {"a": {"Jira-Users"}, "c": {"admins", "jira-users"}, "d": {"admins"}, "e": set()}
    order = seat_order(
        queue, ["group:jira-users", "group:Admins"], lambda h: groups.get(h.source_id, set())
    )
    # jira-users (any case) first by seq: c(3), a(5); then admins: d(2); then the rest: b(1), e(4)
    assert [h.source_id for h in order] == ["c", "a", "d", "b", "e"]
    assert [h.source_id for h in seat_order(queue, [], lambda h: set())] == list("bdcea")


@given(
    st.lists(st.tuples(st.integers(0, 50), st.sets(st.sampled_from("xyz"))), max_size=12),
    st.lists(st.sampled_from(["group:x", "group:y", "group:z"]), unique=True),
)
def test_release_order_property(users: list[tuple[int, set[str]]], priority: list[str]) -> None:
    queue = [_held(f"u{i}", seq) for i, (seq, _) in enumerate(users)]
    groups = {f"u{i}": g for i, (_, g) in enumerate(users)}
    order = seat_order(queue, priority, lambda h: groups[h.source_id])
    assert sorted(order, key=lambda h: h.source_id) == sorted(queue, key=lambda h: h.source_id)
    wanted = [p[6:] for p in priority]
    ranks = [
        next((i for i, g in enumerate(wanted) if g in groups[h.source_id]), len(wanted))
        for h in order
    ]
    assert ranks == sorted(ranks)  # a better-ranked user is never behind a worse one
    for (rank_a, a), (rank_b, b) in pairwise(zip(ranks, order, strict=True)):
        assert rank_a < rank_b or a.seq <= b.seq  # within a rank, by creation order


def test_seat_priority_names_groups() -> None:
    assert TargetOptions(seat_priority=["group:jira-users"]).seat_priority == ["group:jira-users"]
    with pytest.raises(ValidationError):
        TargetOptions(seat_priority=["jira-users"])
    with pytest.raises(ValidationError):
        TargetOptions(max_active_users=-1)


def seed(directory: Directory) -> None:
    for n, login in enumerate(["ada", "grace", "linus", "barbara", "ken"]):
        directory.user(f"u{n}", login)
    directory.group("g-jira", "jira-users", ["u4", "u0"])
    directory.group("g-all", "Everyone", ["u0", "u1", "u2", "u3", "u4"])


def active(crowd: CrowdEmulator) -> set[str]:
    return {n for n, u in crowd.state.snapshot()["users"].items() if u["active"]}


async def deliver(store: Store, crowd: CrowdEmulator, **options: Any) -> Any:
    result = await deliver_to(
        store, crowd, options={"seat_priority": ["group:jira-users"], **options}
    )
    assert result.status == "ok", result.message
    return result


async def test_excess_is_held_and_released_by_priority_when_a_seat_frees_up(
    store: Store, directory: Directory, crowd: CrowdEmulator
) -> None:
    crowd.seats = 3
    seed(directory)
    await directory.sync(store)
    first = await deliver(store, crowd, max_active_users=3)
    # five to create for three seats: jira-users first (ada, ken), then creation order (grace)
    assert active(crowd) == {"ada", "grace", "ken"} and first.held == 2
    assert [h.login for h in held_users(store, "crowd")] == ["linus", "barbara"]
    reason = held_users(store, "crowd")[0].reason
    assert reason.startswith("more users to activate than the 3 free seats of 3")
    # a held user's memberships wait with them
    groups = crowd.state.snapshot()["groups"]
    assert groups["jira-users"] == ["ada", "ken"] and groups["Everyone"] == ["ada", "grace", "ken"]
    alert = target_conditions(
        "crowd", TargetState(store, "crowd").row(), held_users(store, "crowd")
    )
    assert "2 users wait for a seat (linus, barbara)" in alert["target_seats"].message

    # other users' updates and memberships are never held back
    directory.users["u1"]["email"] = "grace.hopper@example.org"
    directory.groups["g-jira"]["members"] = ["u4", "u0", "u2", "u1"]
    await directory.sync(store)
    await deliver(store, crowd, max_active_users=3)
    assert crowd.state.snapshot()["users"]["grace"]["email"] == "grace.hopper@example.org"
    assert crowd.state.snapshot()["groups"]["jira-users"] == ["ada", "grace", "ken"]
    assert len(held_users(store, "crowd")) == 2

    # a deactivation frees a seat: linus (now in jira-users) goes before barbara (held first)
    directory.users["u1"]["active"] = False
    await directory.sync(store)
    freed = await deliver(store, crowd, max_active_users=3)
    assert freed.released == 1 and freed.held == 1
    assert active(crowd) == {"ada", "linus", "ken"}
    groups = crowd.state.snapshot()["groups"]
    assert "linus" in groups["jira-users"] and "linus" in groups["Everyone"]
    assert [h.login for h in held_users(store, "crowd")] == ["barbara"]

    # a raised limit (a seat bought) releases the rest; the alert condition clears
    assert crowd.peak_active == 3 and not crowd.licence_exceeded
    crowd.seats = 4
    await deliver(store, crowd, max_active_users=4)
    assert active(crowd) == {"ada", "linus", "ken", "barbara"}
    assert held_users(store, "crowd") == []
    everyone = crowd.state.snapshot()["groups"]["Everyone"]  # grace: deactivated, kept
    assert everyone == ["ada", "barbara", "grace", "ken", "linus"]
    assert target_conditions("crowd", TargetState(store, "crowd").row(), []) == {}
    assert crowd.peak_active == 4 and not crowd.licence_exceeded


async def test_a_lowered_limit_never_deactivates_and_reactivations_wait(
    store: Store, directory: Directory, crowd: CrowdEmulator
) -> None:
    seed(directory)
    await directory.sync(store)
    await deliver(store, crowd)
    assert len(active(crowd)) == 5
    directory.users["u0"]["active"] = False
    await directory.sync(store)
    await deliver(store, crowd, max_active_users=2)  # 4 active, limit 2: nobody is removed
    assert active(crowd) == {"grace", "linus", "barbara", "ken"}
    directory.users["u0"]["active"] = True  # a reactivation past the budget waits
    directory.user("u9", "margaret")
    await directory.sync(store)
    result = await deliver(store, crowd, max_active_users=2)
    assert active(crowd) == {"grace", "linus", "barbara", "ken"} and result.held == 2
    assert [(h.login, h.op) for h in held_users(store, "crowd")] == [
        ("ada", "user.reactivate"),
        ("margaret", "user.create"),
    ]
    assert "margaret" not in crowd.state.snapshot()["users"]
    # a held user deactivated or deleted in the directory leaves the queue
    directory.users["u0"]["active"] = False
    del directory.users["u9"]
    await directory.sync(store)
    await deliver(store, crowd, max_active_users=2)
    assert held_users(store, "crowd") == []
    # (as without a budget, the directory keeps margaret deactivated: so does the target)
    assert crowd.state.snapshot()["users"]["margaret"]["active"] is False
    assert active(crowd) == {"grace", "linus", "barbara", "ken"}


@settings(max_examples=12, deadline=None)
@given(
    st.lists(st.booleans(), min_size=1, max_size=4),
    st.integers(0, 4),
    st.integers(0, 3),
)
def test_never_over_the_budget_and_never_deactivating_to_make_room(
    tmp_path_factory: pytest.TempPathFactory,
    waves: list[bool],
    limit: int,
    later: int,
) -> None:
    """Waves of new users (and some deactivations) under a budget: the target never holds
    more active users than the budget (once it is within it) and nobody the directory keeps
    active is ever deactivated."""
    import asyncio

    tmp = tmp_path_factory.mktemp("seats")
    store = Store.open(f"sqlite:///{tmp / 'idpsync.db'}")
    directory, crowd = (
        Directory(tmp / "people.json"),
        CrowdEmulator({"idpsync-app": "crowd-app-secret-9d2e"}),
    )

    async def go() -> None:
        n = 0
        for wave, deactivate in enumerate(waves):
            for _ in range(3):
                directory.user(f"u{n}", f"user{n}")
                n += 1
            if deactivate:
                directory.users[f"u{wave}"]["active"] = False
            await directory.sync(store)
            before = active(crowd)
            await deliver(store, crowd, max_active_users=limit)
            now_active = active(crowd)
            assert len(now_active) <= limit
            wanted = {u["login"] for u in directory.users.values() if u.get("active", True)}
            assert (before & wanted) <= now_active  # nobody kept active lost their seat
        await deliver(store, crowd, max_active_users=limit + later)
        wanted = {u["login"] for u in directory.users.values() if u.get("active", True)}
        assert len(active(crowd)) == min(limit + later, len(wanted))

    try:
        asyncio.run(go())
    finally:
        store.close()


async def test_reconcile_adopts_then_holds_past_the_budget(
    store: Store, directory: Directory, crowd: CrowdEmulator
) -> None:
    for name in ("ada", "grace"):  # already in the application, active: they hold seats
        crowd.state.add_user(
            {
                "name": name,
                "password": {"value": "x"},
                "active": True,
                "email": f"{name}@example.org",
            }
        )
    seed(directory)
    await directory.sync(store)
    result = await deliver_to(
        store,
        crowd,
        reconcile=True,
        options={"max_active_users": 3, "seat_priority": ["group:jira-users"]},
    )
    assert result.status == "ok", result.message
    assert result.counts["adopted"] == 2 and result.counts["created"] == 3  # linus, 2 groups
    assert result.counts["held"] == 2 and result.held == 2
    assert active(crowd) == {"ada", "grace", "linus"}
    assert [h.login for h in held_users(store, "crowd")] == ["barbara", "ken"]
    assert crowd.state.snapshot()["groups"]["jira-users"] == ["ada"]
