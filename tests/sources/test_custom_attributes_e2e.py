"""End to end: ``idpsync sync`` reads custom attributes and a mapping template uses them.

Real emulators on a real port, the CLI, SQLite; the directory's ``users.attributes`` is read
back: the raw IdP attributes and the attribute a template computed from them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from idpsync.cli import app
from idpsync.emulators.google import GoogleEmulator
from idpsync.emulators.keycloak import KeycloakEmulator
from idpsync.model import DirUser
from idpsync.store import Store
from idpsync.targets.attributes import ENTERPRISE
from tests.targets.scim_support import TOKEN, ScimServer, read_scim

runner = CliRunner()


def _users(tmp_path: Path, connector: str) -> dict[str, DirUser]:
    store = Store.open(f"sqlite:///{tmp_path}/d.db")
    with store.transaction() as conn:
        return store.load_directory(conn, connector).users


@pytest.mark.slow
def test_google_custom_schema_into_a_mapped_attribute(tmp_path: Path) -> None:
    emu = GoogleEmulator.generate(users=30, groups=3, seed=8)
    t = emu.tenant
    badged = t.user_ids[4]
    t.update_user(badged, custom={"HR": {"badge": "B-4"}, "Secret": {"pin": "1234"}})
    with emu.serve() as server:
        key = tmp_path / "key.json"
        key.write_text(json.dumps(emu.service_account_info(f"{server.url}/token")))
        config = tmp_path / "idpsync.toml"
        config.write_text(
            f'[store]\nurl = "sqlite:///{tmp_path}/d.db"\n\n'
            "[connectors.gws.source]\n"
            'type = "google"\n'
            f'credentials = "file:{key}"\n'
            f'subject = "{emu.admin_email}"\n'
            f'base_url = "{server.url}"\n'
            f'token_url = "{server.url}/token"\n'
            'custom_schemas = ["HR"]\n\n'
            "[connectors.gws.policy.mapping.attributes]\n"
            "badge = \"{{ attributes.customSchemas.HR.badge | fallback('none') }}\"\n"
        )
        check = runner.invoke(app, ["check", "gws", "-c", str(config), "--json"])
        sync = runner.invoke(app, ["sync", "gws", "-c", str(config), "--json"])
    assert check.exit_code == 0, check.output
    assert sync.exit_code == 0, sync.output
    users = _users(tmp_path, "gws")
    assert len(users) == 30
    got = users[t.gid(badged)].attributes
    assert got["badge"] == "B-4"
    assert got["customSchemas"] == {"HR": {"badge": "B-4"}}  # only the schema asked for
    assert users[t.gid(t.user_ids[5])].attributes["badge"] == "none"


@pytest.mark.slow
def test_keycloak_attributes_read_because_a_template_uses_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = KeycloakEmulator.generate(users=30, groups=3, seed=8)
    uid = emu.tenant.user_ids[6]
    emu.tenant.update_user(uid, custom={"any": {"costCenter": "CC-6"}})
    monkeypatch.setenv("IDPSYNC_TEST_KC_SECRET", emu.client_secret)
    with emu.serve() as server:
        config = tmp_path / "idpsync.toml"
        config.write_text(
            f'[store]\nurl = "sqlite:///{tmp_path}/d.db"\n\n'
            "[connectors.kc.source]\n"
            'type = "keycloak"\n'
            f'base_url = "{server.url}"\n'
            f'realm = "{emu.realm}"\n'
            f'client_id = "{emu.client_id}"\n'
            'client_secret = "env:IDPSYNC_TEST_KC_SECRET"\n\n'
            "[connectors.kc.policy.mapping.attributes]\n"
            'cost_center = "{{ attributes.attributes.costCenter | first }}"\n'
        )
        sync = runner.invoke(app, ["sync", "kc", "-c", str(config), "--json"])
        listed = [r.query for r in emu.requests if r.path.endswith(f"/{emu.realm}/users")]
    assert sync.exit_code == 0, sync.output
    assert listed and all("briefRepresentation=false" in q for q in listed)
    users = _users(tmp_path, "kc")
    assert len(users) == 30  # users without the attribute map too (an empty value)
    assert users[emu.tenant.user_ids[7]].attributes["cost_center"] is None  # renders empty
    assert users[uid].attributes["cost_center"] == "CC-6"
    assert users[uid].attributes["attributes"]["costCenter"] == ["CC-6"]


@pytest.mark.slow
def test_keycloak_attributes_read_for_a_targets_default_templates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ``user_attributes``, no policy template: a target's default HR templates ask for them."""
    emu = KeycloakEmulator.generate(users=12, groups=2, seed=8)
    uid = emu.tenant.user_ids[4]
    emu.tenant.update_user(uid, custom={"any": {"department": "R&D", "title": "Engineer"}})
    monkeypatch.setenv("IDPSYNC_TEST_KC_SECRET", emu.client_secret)
    monkeypatch.setenv("IDPSYNC_TEST_SCIM_TOKEN", TOKEN)
    scim = ScimServer()
    scim.start()
    try:
        with emu.serve() as server:
            source = (
                f'[store]\nurl = "sqlite:///{tmp_path}/d.db"\n\n'
                "[connectors.kc.source]\n"
                'type = "keycloak"\n'
                f'base_url = "{server.url}"\n'
                f'realm = "{emu.realm}"\n'
                f'client_id = "{emu.client_id}"\n'
                'client_secret = "env:IDPSYNC_TEST_KC_SECRET"\n\n'
                "[targets.apps]\n"
                'type = "scim"\n'
                f'url = "{scim.url}"\n'
                'token = "env:IDPSYNC_TEST_SCIM_TOKEN"\n'
            )
            config = tmp_path / "idpsync.toml"
            config.write_text(source + 'connectors = ["other"]\n')  # not this connector's
            assert runner.invoke(app, ["sync", "kc", "-c", str(config)]).exit_code == 0
            brief = [r.query for r in emu.requests if r.path.endswith(f"/{emu.realm}/users")]
            emu.requests.clear()
            config.write_text(source)  # receives every connector's changes
            sync = runner.invoke(app, ["sync", "kc", "-c", str(config)])
            full = [r.query for r in emu.requests if r.path.endswith(f"/{emu.realm}/users")]
            deliver = runner.invoke(app, ["deliver", "apps", "-c", str(config)])
        held = read_scim(scim.url)["raw_users"]
    finally:
        scim.kill()
    assert brief and all("briefRepresentation=true" in q for q in brief)
    assert sync.exit_code == 0, sync.output
    assert full and all("briefRepresentation=false" in q for q in full)
    assert deliver.exit_code == 0, deliver.output
    login = emu.tenant.users[uid].alias.lower()
    (ada,) = [u for u in held if u["userName"].lower() == login]
    assert ada["title"] == "Engineer"
    assert ada[ENTERPRISE]["department"] == "R&D"
