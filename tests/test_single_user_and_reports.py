"""Single-user sync, dry-run reports and ``runs show`` (SQLite and PostgreSQL, and the CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from idpsync.cli import app
from idpsync.engine.plan import OpKind
from idpsync.store import Store
from tests.world import World, person


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    w = World(tmp_path / "people.json", store)
    w.users = [
        person("u1", "ada", manager_id="u2", photo_ref="etag-1"),
        person("u2", "bob"),
        person("u3", "eve"),
    ]
    w.groups = [
        {"id": "g1", "name": "Eng", "members": ["u1", "u2"], "subgroups": []},
        {"id": "g2", "name": "Ops", "members": ["u2", "u3"]},
    ]
    return w


def test_sync_user_touches_only_that_user(world: World) -> None:
    world.sync()
    # Meanwhile in the IdP: everyone else is gone, ada changed and moved from Eng to Ops.
    world.users = [person("u1", "ada", display_name="Ada K", manager_id=None, photo_ref="etag-2")]
    world.groups = [
        {"id": "g2", "name": "Ops", "members": ["u1"]},
        {"id": "g3", "name": "New", "members": ["u1"]},
    ]
    result = world.sync_user("ADA")
    assert result.status == "succeeded"
    kinds = sorted(op.kind.value for op in result.plan.ops)
    assert kinds == ["group.create", "member.add", "member.add", "member.remove", "user.update"]
    rows = world.rows()
    assert rows["bob"]["active"] and rows["eve"]["active"]
    assert rows["ada"]["display_name"] == "Ada K" and rows["ada"]["photo_ref"] == "etag-2"
    assert world.members("Eng") == {"bob"}
    assert world.members("Ops") == {"ada", "bob", "eve"}
    assert world.members("New") == {"ada"}
    assert set(world.group_names()) == {"Eng", "Ops", "New"}


def test_sync_user_by_id_creates_and_reports_unknown(world: World) -> None:
    created = world.sync_user("u3")
    assert created.status == "succeeded" and set(world.rows()) == {"eve"}
    assert world.members("Ops") == {"eve"}
    missing = world.sync_user("nobody")
    assert missing.status == "failed" and "no user 'nobody'" in missing.message


def test_sync_user_out_of_scope_and_collisions(world: World) -> None:
    world.sync()
    world.policy = {"required_groups": ["Eng"]}
    result = world.sync_user("eve")
    assert not result.plan and "out of the connector's scope" in result.message
    world.policy = {}
    world.users.append(person("u9", "Bob"))
    result = world.sync_user("u9")
    assert not result.plan
    assert "another user of this connector" in result.details["skipped"][0]["reason"]


def test_dry_run_report_and_runs_show_match(world: World, store: Store, tmp_path: Path) -> None:
    url = store.engine.url.render_as_string(hide_password=False)
    config = tmp_path / "idpsync.toml"
    config.write_text(f"""
[store]
url = "{url}"

[connectors.hr.source]
type = "file"
path = "people.json"

[connectors.hr.policy]
required_groups = ["Eng", "Ops"]
user_filters = [{{ action = "exclude", field = "login", op = "equals", value = "eve" }}]
""")
    world.users.append(person("u4", "ADA"))
    world.groups[0]["members"].append("u4")
    world.write()
    cli = CliRunner()
    report_path = tmp_path / "plan.json"
    dry = cli.invoke(
        app, ["sync", "hr", "--dry-run", "--report", str(report_path), "-c", str(config)]
    )
    assert dry.exit_code == 0, dry.output
    planned = json.loads(report_path.read_text())
    assert planned["run"]["status"] == "dry_run"
    assert {e["key"] for e in planned["users"]} == {"bob"}
    assert {s["source_id"] for s in planned["skipped"]} == {"u1", "u4"}
    assert planned["out_of_scope"] == 1
    assert planned["users"][0]["reason"] == "new in the IdP"
    assert world.rows() == {}
    shown = cli.invoke(
        app, ["runs", "show", str(planned["run"]["id"]), "--format", "report", "-c", str(config)]
    )
    assert shown.exit_code == 0, shown.output
    again = json.loads(shown.stdout)
    assert again["users"] == planned["users"] and again["skipped"] == planned["skipped"]
    real = cli.invoke(app, ["sync", "hr", "--json", "-c", str(config)])
    run_id = json.loads(real.stdout)["hr"]["run_id"]
    shown = cli.invoke(app, ["runs", "show", str(run_id), "-f", "report", "-c", str(config)])
    shown = json.loads(shown.stdout)
    assert [e["op"] for e in shown["users"]] == [OpKind.CREATE_USER.value]
    assert shown["users"][0]["reason"] == "new in the IdP"
    assert {s["source_id"] for s in shown["skipped"]} == {"u1", "u4"}
    one = cli.invoke(app, ["sync-user", "hr", "bob", "--json", "-c", str(config)])
    assert one.exit_code == 0, one.output
    off = cli.invoke(app, ["users", "disable", "bob", "-c", str(config)])
    assert off.exit_code == 2 and "--local" in off.output
    off = cli.invoke(app, ["users", "disable", "BOB", "--local", "-c", str(config)])
    assert off.exit_code == 0, off.output
    assert world.rows()["bob"]["locally_disabled"]
    cli.invoke(app, ["sync", "hr", "-c", str(config)])
    assert not world.rows()["bob"]["active"]


def test_cli_guard_message_and_skipped_output(tmp_path: Path) -> None:
    config = tmp_path / "idpsync.toml"
    config.write_text(f"""
[store]
url = "sqlite:///{tmp_path / "d.db"}"

[connectors.hr.source]
type = "file"
path = "people.json"

[connectors.hr.policy.mapping]
login = "{{{{ attributes.uid }}}}"
""")
    people = tmp_path / "people.json"
    users = [
        {"id": f"u{i}", "login": f"x{i}", "attributes": {"uid": f"user{i}"}} for i in range(12)
    ]
    users.append({"id": "bad", "login": "bad"})
    people.write_text(json.dumps({"users": users}))
    cli = CliRunner()
    first = cli.invoke(app, ["sync", "-c", str(config)])
    assert first.exit_code == 0, first.output
    assert "skipped user bad (bad): the login mapping gave an empty value" in first.output
    people.write_text(json.dumps({"users": []}))
    refused = cli.invoke(app, ["sync", "hr", "-c", str(config)])
    assert refused.exit_code == 4  # refused by a guard: the connector awaits approval
    assert "sync refused by a guard" in refused.output
    assert "hr now awaits approval" in refused.output
    assert "deactivate, anonymise or delete 12 users" in refused.output
    assert "--allow-deletes" in refused.output
    confirmed = cli.invoke(app, ["sync", "hr", "--allow-deletes", "-c", str(config)])
    assert confirmed.exit_code == 0, confirmed.output


def test_sync_user_finds_the_directory_login_among_many_similar(world: World) -> None:
    # The directory login comes from a mapping, so only the directory knows "a" means "ua".
    world.policy = {"mapping": {"login": "{{ attributes.short }}"}}
    world.users = [
        person(f"u{i}", f"idp-{i}", attributes={"short": f"{i}a"}) for i in range(60)
    ] + [person("ua", "idp-a", attributes={"short": "a"})]
    world.groups = []
    world.sync()
    world.users[-1]["display_name"] = "Just A"
    result = world.sync_user("A")
    assert result.status == "succeeded", result.message
    assert [op.key for op in result.plan.ops] == ["a"]
    assert world.rows()["a"]["display_name"] == "Just A"


def test_sync_user_with_transitive_required_group(world: World) -> None:
    from idpsync.config_policy import PolicySettings, fetch_scope

    world.groups = [
        {"id": "g-app", "name": "App", "members": [], "subgroups": ["g-team"]},
        {"id": "g-team", "name": "Team", "members": ["u3"]},
    ]
    world.policy = {"required_groups": ["App"]}
    assert not world.sync_user("eve").plan  # only a nested member: out of scope
    world.policy = {"required_groups": ["App"], "transitive": True}
    assert fetch_scope(PolicySettings.model_validate(world.policy)) == (["App"], True)
    assert fetch_scope(PolicySettings()) is None
    result = world.sync_user("eve")
    assert result.plan.count(OpKind.CREATE_USER) == 1
    assert world.members("Team") == {"eve"} and world.members("App") == set()
