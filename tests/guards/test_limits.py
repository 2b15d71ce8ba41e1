"""Guards for groups and memberships (pure limits and through a real run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from idpsync.config import GuardSettings
from idpsync.engine.guard import GuardRefused
from idpsync.engine.limits import Sizes, check, problems
from idpsync.engine.plan import Op, OpKind, Plan
from idpsync.model import MemberKind, Membership
from idpsync.store import Store
from tests.world import World, person


def removals(group: str, n: int) -> list[Op]:
    return [
        Op(OpKind.REMOVE_MEMBER, group, member=Membership(group, f"u{i}", MemberKind.USER))
        for i in range(n)
    ]


def test_group_deletions_over_the_share_are_refused() -> None:
    plan = Plan([Op(OpKind.DELETE_GROUP, f"g{i}") for i in range(6)])
    with pytest.raises(GuardRefused, match="delete 6 of the 20 groups"):
        check(plan, GuardSettings(), Sizes(groups=20, memberships=0), allow_deletes=False)
    check(plan, GuardSettings(), Sizes(groups=20, memberships=0), allow_deletes=True)
    check(plan, GuardSettings(), Sizes(groups=100, memberships=0), allow_deletes=False)
    limited = GuardSettings(max_group_delete_count=3)
    assert problems(plan, limited, Sizes(groups=100, memberships=0)) == [
        "it would delete 6 groups, more than the limit of 3"
    ]


def test_a_large_group_emptied_is_refused_a_small_one_is_not() -> None:
    plan = Plan(removals("big", 11) + removals("small", 9))
    sizes = Sizes(10_000, 10_000, {"big": 50, "small": 10}, {"big": "jira-users"})
    found = problems(plan, GuardSettings(), sizes)
    assert found == [
        "it would take more than 20% of the members out of 1 groups of at least 50 members: "
        "jira-users (11 of 50)"
    ]
    assert problems(Plan(removals("big", 10)), GuardSettings(), sizes) == []


def test_memberships_removed_in_total() -> None:
    plan = Plan(removals("a", 30) + removals("b", 30))
    sizes = Sizes(10, 400, {"a": 200, "b": 200})
    assert problems(plan, GuardSettings(), sizes) == [
        "it would remove 60 of the 400 memberships (15%), above the limit of 10%"
    ]
    assert problems(plan, GuardSettings(max_membership_remove_count=59), Sizes(10, 10_000)) == [
        "it would remove 60 memberships, more than the limit of 59"
    ]


def test_a_run_emptying_a_group_is_guarded_and_changes_nothing(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    try:
        world = World(tmp_path / "hr.json", store)
        world.users = [person(f"u{i}") for i in range(60)]
        world.groups = [{"id": "g", "name": "staff", "members": [f"u{i}" for i in range(60)]}]
        assert world.sync().status == "succeeded"
        before = world.dump()
        world.groups = [{"id": "g", "name": "staff", "members": ["u0"]}]
        result = world.sync()
        assert result.status == "guarded"
        assert "staff (59 of 60)" in result.message and "--allow-deletes" in result.message
        assert world.dump() == before
        assert world.sync(allow_deletes=True).status == "succeeded"
        assert world.members("staff") == {"u0"}
    finally:
        store.close()


def test_a_run_deleting_most_groups_is_guarded(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    try:
        world = World(tmp_path / "hr.json", store)
        world.users = [person("u0")]
        world.groups = [{"id": f"g{i}", "name": f"team-{i}", "members": []} for i in range(8)]
        assert world.sync().status == "succeeded"
        world.groups = world.groups[:2]
        result = world.sync()
        assert result.status == "guarded"
        assert "delete 6 of the 8 groups" in result.message
        assert len(world.group_names()) == 8
    finally:
        store.close()
