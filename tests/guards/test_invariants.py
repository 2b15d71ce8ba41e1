"""Invariants: declared in the configuration, checked before every apply and from the store."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from idpsync.cli import app
from idpsync.config import ConfigError, parse_config
from idpsync.config_invariants import InvariantSettings
from idpsync.engine.invariants import InvariantBreached, breaches, check
from idpsync.model import DirectoryState, DirGroup, DirUser, MemberKind, Membership
from idpsync.store import Store, approvals
from tests.filedata import people, write
from tests.world import World, person

runner = CliRunner()


def inv(**values: object) -> InvariantSettings:
    return InvariantSettings.model_validate(values)


def state(admins: list[str], *, guest: bool = False) -> DirectoryState:
    users = {f"u{i}": DirUser(f"u{i}", f"user{i}", email=f"user{i}@example.org") for i in range(8)}
    users["x"] = DirUser("x", "ext", email="ext@other.test", attributes={"userType": "Guest"})
    if not guest:
        users["x"] = DirUser("x", "ext", email="ext@other.test", active=False)
    groups = {"a": DirGroup("a", "Jira-Administrators"), "s": DirGroup("s", "it-staff")}
    edges = {Membership("a", m, MemberKind.USER) for m in admins}
    edges |= {Membership("s", f"u{i}", MemberKind.USER) for i in range(4)}
    return DirectoryState(users, groups, edges)


RULES = [
    inv(name="few-admins", group="jira-administrators", max_members=3),
    inv(name="admins-are-staff", group="jira-administrators", members_within="it-staff"),
    inv(name="no-guests", no_active_where={"attributes.userType": "Guest"}),
    inv(name="our-mail", active_email_suffix="@EXAMPLE.org"),
]


def test_each_rule_names_its_offenders() -> None:
    assert breaches(state(["u0", "u1"]), RULES) == {}
    found = breaches(state(["u0", "u1", "u2", "u5"], guest=True), RULES)
    assert found == {
        "few-admins": ["user0", "user1", "user2", "user5"],
        "admins-are-staff": ["user5"],
        "no-guests": ["ext"],
        "our-mail": ["ext"],
    }


def test_a_run_is_refused_only_for_new_offenders() -> None:
    before = state(["u0", "u5"])  # user5 already breaks admins-are-staff
    check(before, state(["u0", "u5"]), RULES)
    with pytest.raises(InvariantBreached) as caught:
        check(before, state(["u0", "u5", "u6"]), RULES)
    assert caught.value.breaches == {"admins-are-staff": ["user6"]}
    assert "--allow-invariant admins-are-staff" in str(caught.value)
    check(before, state(["u0", "u5", "u6"]), RULES, allowed={"admins-are-staff"})


def test_configuration_needs_one_rule_and_merges_global_invariants() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        inv(name="x", group="g", max_members=1, members_within="h")
    with pytest.raises(ValueError, match="'group' goes with"):
        inv(name="x", max_members=1)
    text = (
        '[[invariants]]\nname = "mail"\nactive_email_suffix = "@example.org"\n'
        '[connectors.hr.source]\ntype = "file"\npath = "x.json"\n'
        '[[connectors.hr.invariants]]\nname = "admins"\ngroup = "admins"\nmax_members = 2\n'
    )
    settings = parse_config(text, resolve_secrets=False)
    assert [i.name for i in settings.connectors["hr"].invariants] == ["mail", "admins"]
    with pytest.raises(ConfigError, match="two invariants"):
        parse_config(
            text + '[[connectors.hr.invariants]]\nname = "admins"\n' + 'group = "a"\n'
            "max_members = 1\n",
            resolve_secrets=False,
        )


def test_a_run_breaking_an_invariant_changes_nothing(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    try:
        world = World(tmp_path / "hr.json", store)
        world.users = [person(f"u{i}") for i in range(6)]
        world.groups = [{"id": "a", "name": "admins", "members": ["u0"]}]
        rule = {"name": "two-admins", "group": "admins", "max_members": 2}
        settings = world.settings
        world.settings = lambda: settings().model_copy(  # type: ignore[method-assign]
            update={"invariants": [InvariantSettings.model_validate(rule)]}
        )
        assert world.sync().status == "succeeded"
        before = world.dump()
        world.groups = [{"id": "a", "name": "admins", "members": ["u0", "u1", "u2", "u3"]}]
        result = world.sync(allow_deletes=True)
        assert result.status == "guarded"
        assert "two-admins" in result.message and "u1, u2, u3" in result.message
        assert world.dump() == before
        assert approvals.pending(store, "hr") is not None
        assert world.sync(allow_invariants={"two-admins"}).status == "succeeded"
        assert approvals.pending(store, "hr") is None
        assert world.members("admins") == {"u0", "u1", "u2", "u3"}
    finally:
        store.close()


def test_config_check_against_store(tmp_path: Path, store_url: str) -> None:
    write(tmp_path / "people.json", people(6, groups=2))
    cfg = tmp_path / "idpsync.toml"
    base = (
        f'[store]\nurl = "{store_url}"\n\n[connectors.hr.source]\ntype = "file"\n'
        'path = "people.json"\n'
    )
    cfg.write_text(base)
    assert runner.invoke(app, ["sync", "hr", "--config", str(cfg)]).exit_code == 0
    cfg.write_text(
        base + '[[connectors.hr.invariants]]\nname = "small"\ngroup = "Group 0"\nmax_members = 4\n'
    )
    done = runner.invoke(app, ["config", "check", "--against-store", "--config", str(cfg)])
    assert done.exit_code == 0, done.output
    assert "invariants of hr: 1 hold" in done.output
    cfg.write_text(
        base + '[[connectors.hr.invariants]]\nname = "small"\ngroup = "Group 0"\nmax_members = 3\n'
    )
    done = runner.invoke(app, ["config", "check", "--against-store", "--config", str(cfg)])
    assert done.exit_code == 1, done.output
    assert "small (group Group 0 has at most 3 members): group Group 1, user0" in done.output
