from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from idpsync.engine.plan import REMOVALS, OpKind, apply_ops, plan
from idpsync.model import DirectoryState, DirGroup, DirUser, Membership
from tests.strategies import states


@given(desired=states(), current=states())
def test_apply_of_plan_reaches_desired_when_leavers_are_deleted(desired, current) -> None:
    result = apply_ops(current, plan(desired, current, deprovision="delete").ops)
    assert result == desired


@given(desired=states(), current=states(), mode=st.sampled_from(["deactivate", "delete", "keep"]))
def test_second_plan_is_empty(desired, current, mode) -> None:
    applied = apply_ops(current, plan(desired, current, deprovision=mode).ops)
    assert plan(desired, applied, deprovision=mode).ops == []


@given(desired=states(), current=states())
def test_deactivate_keeps_leavers_inactive_and_everything_else_matches(desired, current) -> None:
    result = apply_ops(current, plan(desired, current).ops)
    assert result.groups == desired.groups
    assert result.memberships == desired.memberships
    for sid, user in result.users.items():
        if sid in desired.users:
            assert user == desired.users[sid]
        else:
            assert user == replace(current.users[sid], active=False)


@settings(max_examples=300)
@given(desired=states(), current=states(), mode=st.sampled_from(["deactivate", "delete", "keep"]))
def test_incomplete_snapshot_never_removes(desired, current, mode) -> None:
    ops = plan(desired, current, complete=False, deprovision=mode).ops
    assert not [op for op in ops if op.kind in REMOVALS]
    result = apply_ops(current, ops)
    assert current.users.keys() <= result.users.keys()
    assert current.groups.keys() <= result.groups.keys()
    assert current.memberships <= result.memberships
    for sid, user in current.users.items():
        assert result.users[sid].active or not user.active


def test_rename_and_email_change_is_one_update_not_delete_create() -> None:
    before = DirUser("id-1", login="jdoe", email="j.doe@old.example")
    after = replace(before, login="jane.roe", email="jane.roe@new.example")
    ops = plan(DirectoryState(users={"id-1": after}), DirectoryState(users={"id-1": before})).ops
    assert [(op.kind, op.before, op.after, op.key) for op in ops] == [
        (
            OpKind.UPDATE_USER,
            {"login": "jdoe", "email": "j.doe@old.example"},
            {"login": "jane.roe", "email": "jane.roe@new.example"},
            "jane.roe",
        )
    ]


def test_order_creates_before_members_before_removals() -> None:
    current = DirectoryState(
        users={"old": DirUser("old", "old")},
        groups={"gone": DirGroup("gone", "Gone")},
        memberships={Membership("gone", "old")},
    )
    desired = DirectoryState(
        users={"new": DirUser("new", "new")},
        groups={"g": DirGroup("g", "G")},
        memberships={Membership("g", "new")},
    )
    kinds = [op.kind for op in plan(desired, current, deprovision="delete").ops]
    assert kinds == [
        OpKind.CREATE_GROUP,
        OpKind.CREATE_USER,
        OpKind.ADD_MEMBER,
        OpKind.REMOVE_MEMBER,
        OpKind.DELETE_USER,
        OpKind.DELETE_GROUP,
    ]


def test_disabled_in_idp_is_a_deactivation_and_return_is_reactivation() -> None:
    on = DirUser("a", "a")
    off = replace(on, active=False)
    assert [
        op.kind
        for op in plan(DirectoryState(users={"a": off}), DirectoryState(users={"a": on})).ops
    ] == [OpKind.DEACTIVATE_USER]
    assert [
        op.kind
        for op in plan(DirectoryState(users={"a": on}), DirectoryState(users={"a": off})).ops
    ] == [OpKind.REACTIVATE_USER]
    # An incomplete read applies the other changes but not the deactivation.
    renamed_off = replace(off, login="b")
    ops = plan(
        DirectoryState(users={"a": renamed_off}), DirectoryState(users={"a": on}), complete=False
    ).ops
    assert [(op.kind, op.after) for op in ops] == [(OpKind.UPDATE_USER, {"login": "b"})]


@given(desired=states(), current=states())
def test_membership_ops_are_in_edge_order_with_group_and_member_names(desired, current) -> None:
    ops = plan(desired, current).ops
    for kind, edges in (
        (OpKind.ADD_MEMBER, desired.memberships - current.memberships),
        (OpKind.REMOVE_MEMBER, current.memberships - desired.memberships),
    ):
        mine = [op for op in ops if op.kind is kind]
        assert [op.member for op in mine] == sorted(edges)
        for op in mine:
            assert op.member is not None
            group = desired.groups.get(op.member.group_id) or current.groups[op.member.group_id]
            assert op.key.startswith(f"{group.name} ← ")


def test_a_plan_repr_stays_short() -> None:
    edges = [Membership("g", f"u{i}") for i in range(1000)]
    big = plan(DirectoryState(memberships=set(edges)), DirectoryState())
    assert len(repr(big)) < 200
    assert "1000" in repr(big)
