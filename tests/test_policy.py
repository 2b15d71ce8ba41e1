"""Scoping, user filters and group rules (pure: no store)."""

from __future__ import annotations

from typing import Any

from idpsync.config_policy import PolicySettings
from idpsync.engine.policy import ALWAYS_PREFIX, evaluate, group_name
from idpsync.model import MemberKind, Membership, Snapshot, SourceGroup, SourceUser
from idpsync.sources.registry import preset


def snap() -> Snapshot:
    users = [
        SourceUser(
            "u1",
            "ada",
            email="ada@example.org",
            attributes={"userType": "Member", "dept": "R&D", "tags": ["x"]},
        ),
        SourceUser("u2", "bob", email="bob@partner.com", attributes={"userType": "Guest"}),
        SourceUser(
            "u3",
            "eve",
            email="eve@example.org",
            active=False,
            attributes={"userType": "Member", "dept": ""},
        ),
        SourceUser("u4", "svc-backup", email=None, attributes={"profile": {"kind": "service"}}),
    ]
    groups = [
        SourceGroup("g1", "Jira Users"),
        SourceGroup("g2", "Team-Alpha"),
        SourceGroup("g3", "Sales"),
    ]
    edges = [
        Membership("g1", "u1"),
        Membership("g1", "u2"),
        Membership("g2", "u1"),
        Membership("g2", "u3"),
        Membership("g3", "u4"),
        Membership("g1", "g2", MemberKind.GROUP),
    ]
    return Snapshot(users, groups, edges)


def run(**policy: Any) -> Any:
    return evaluate(snap(), PolicySettings.model_validate(policy), preset("file"), connector="hr")


def test_everyone_by_default() -> None:
    result = run()
    assert set(result.desired.users) == {"u1", "u2", "u3", "u4"}
    assert not result.desired.users["u3"].active


def test_required_groups_by_name_or_id_direct_and_transitive() -> None:
    assert set(run(required_groups=["jira users"]).desired.users) == {"u1", "u2"}
    assert set(run(required_groups=["g1"], transitive=True).desired.users) == {"u1", "u2", "u3"}
    result = run(required_groups=["Nope", "Sales"])
    assert set(result.desired.users) == {"u4"}
    assert result.warnings == ["required group 'Nope' is not in the IdP's data"]
    assert "not a member of a required group" in result.out_of_scope["u1"]


def test_user_filters() -> None:
    guests = {"action": "exclude", "field": "attributes.userType", "op": "equals", "value": "guest"}
    assert set(run(user_filters=[guests]).desired.users) == {"u1", "u3", "u4"}
    domain = {"action": "include", "field": "email", "op": "endswith", "value": "@EXAMPLE.org"}
    assert set(run(user_filters=[domain]).desired.users) == {"u1", "u3"}
    inactive = {"action": "exclude", "field": "active", "op": "equals", "value": False}
    assert "u3" not in run(user_filters=[inactive]).desired.users
    empty = {"action": "exclude", "field": "attributes.dept", "op": "empty"}
    assert set(run(user_filters=[empty]).desired.users) == {"u1"}
    nested = {
        "action": "exclude",
        "field": "attributes.profile.kind",
        "op": "in",
        "value": ["service", "robot"],
    }
    assert "u4" not in run(user_filters=[nested]).desired.users
    regex = {"action": "exclude", "field": "login", "op": "matches", "value": "^svc-"}
    result = run(user_filters=[regex])
    assert "u4" not in result.desired.users
    assert result.out_of_scope["u4"] == "excluded by user filter #1 (login matches)"
    listy = {"action": "include", "field": "attributes.tags", "op": "equals", "value": "X"}
    assert set(run(user_filters=[listy]).desired.users) == {"u1"}
    strict = {**listy, "ignore_case": False}
    assert set(run(user_filters=[strict]).desired.users) == set()


def test_group_rules() -> None:
    policy = PolicySettings.model_validate(
        {
            "groups": {
                "include": ["jira*", "re:team-.*"],
                "exclude": ["*alpha"],
                "rename": [{"match": "jira (.*)", "replace": r"jira-\1"}],
                "lowercase": True,
                "prefix": "idp-",
            }
        }
    )
    assert group_name("Jira Users", policy) == ("idp-jira-users", "")
    assert group_name("Team-Alpha", policy)[0] is None
    assert group_name("Sales", policy) == (None, "matches no groups.include pattern")
    dropping = PolicySettings.model_validate(
        {"groups": {"rename": [{"match": "team-(.*)", "replace": r"\1"}], "drop_unmatched": True}}
    )
    assert group_name("team-x", dropping) == ("x", "")
    assert group_name("Sales", dropping)[0] is None


def test_dropped_groups_lose_their_edges_but_not_their_members() -> None:
    result = run(groups={"exclude": ["jira*"]})
    assert "g1" not in result.desired.groups and "u2" in result.desired.users
    assert all(m.group_id != "g1" and m.member_id != "g1" for m in result.desired.memberships)
    assert result.dropped_groups["g1"].startswith("matches groups.exclude")


def test_always_groups() -> None:
    result = run(required_groups=["Jira Users"], groups={"always": ["jira-software-users"]})
    gid = ALWAYS_PREFIX + "jira-software-users"
    assert result.desired.groups[gid].name == "jira-software-users"
    members = {m.member_id for m in result.desired.memberships if m.group_id == gid}
    assert members == {"u1", "u2"}


def test_mapping_failure_skips_the_user_with_a_reason() -> None:
    result = run(mapping={"login": "{{ attributes.userType }}"})
    assert {s.source_id for s in result.skipped} == {"u4"}
    assert result.skipped[0].reason == "the login mapping gave an empty value"
