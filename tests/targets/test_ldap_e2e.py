"""slapd killed in the middle of a delivery, and the command line end to end against slapd."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import ldap3
import pytest
from typer.testing import CliRunner

from idpsync.cli import app
from idpsync.store import Store
from idpsync.targets.delivery import deliver
from idpsync.targets.ldap import LdapTarget
from idpsync.targets.ldap_link import LdapLink
from idpsync.targets.session import Session
from idpsync.targets.state import TargetState, pending_count
from tests.targets.scim_support import Directory
from tests.targets.slapd_support import ROOT_DN, ROOT_PW, Slapd, ldap_settings
from tests.targets.test_ldap_target import change, expected, read_ldap, seed

pytestmark = pytest.mark.slow
T = TypeVar("T")


class KillingLink(LdapLink):
    """Kills slapd just before the ``after``-th write; that write and the rest fail."""

    def __init__(self, slapd: Slapd, after: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.slapd = slapd
        self.after = after
        self.writes = 0

    async def run(self, operation: str, dn: str, call: Callable[[ldap3.Connection], T]) -> T:
        if operation != "SEARCH":
            self.writes += 1
            if self.writes == self.after:
                self.slapd.kill()
        return await super().run(operation, dn, call)


@pytest.mark.parametrize("after", [3, 9])
async def test_slapd_killed_mid_delivery_resumes_without_duplicates(
    sqlite_store: Store, directory: Directory, slapd: Slapd, after: int
) -> None:
    seed(directory)
    await directory.sync(sqlite_store)
    settings = ldap_settings(slapd.url)
    assert settings.ldap is not None
    link = KillingLink(slapd, after, url=slapd.url, bind_dn=ROOT_DN, password=ROOT_PW, timeout=5)
    target = LdapTarget(link, settings.options, settings.ldap)
    first = await deliver(Session(sqlite_store, "ldap", settings, target))
    await target.close()
    assert first.status == "down", first.message
    assert TargetState(sqlite_store, "ldap").row()["cursor"] == first.cursor
    assert pending_count(sqlite_store, first.cursor) > 0

    slapd.start()
    fresh = LdapTarget.from_settings(settings)
    second = await deliver(Session(sqlite_store, "ldap", settings, fresh))
    await fresh.close()
    assert second.status == "ok", second.message
    assert read_ldap(slapd) == expected(directory)  # every user and group exactly once
    change(directory)
    await directory.sync(sqlite_store)
    last = LdapTarget.from_settings(settings)
    third = await deliver(Session(sqlite_store, "ldap", settings, last))
    await last.close()
    assert third.status == "ok" and read_ldap(slapd) == expected(directory)


def test_cli_sync_and_deliver_into_slapd(
    tmp_path: Path, directory: Directory, slapd: Slapd, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(directory)
    monkeypatch.setenv("LDAP_BIND_PASSWORD", ROOT_PW)
    config = directory.cli_config(
        tmp_path,
        f"""
[targets.directory]
type = "ldap"
url = "{slapd.url}"
bind_dn = "{ROOT_DN}"
password = "env:LDAP_BIND_PASSWORD"
[targets.directory.ldap]
base_dn = "dc=example,dc=org"
users_dn = "ou=people,dc=example,dc=org"
groups_dn = "ou=groups,dc=example,dc=org"
deactivate = "move"
disabled_dn = "ou=disabled,dc=example,dc=org"
""",
    )
    runner = CliRunner()
    assert runner.invoke(app, ["sync", "-c", str(config)]).exit_code == 0
    check = runner.invoke(app, ["config", "check", "-c", str(config)])
    assert f"target directory: ldap {slapd.url}" in check.output
    done = runner.invoke(app, ["deliver", "-c", str(config)])
    assert done.exit_code == 0, done.output
    assert "directory: ok" in done.output and ROOT_PW not in done.output
    assert read_ldap(slapd) == expected(directory)

    slapd.kill()
    down = runner.invoke(app, ["deliver", "directory", "-c", str(config), "--reconcile"])
    assert down.exit_code == 1 and "LDAP" in down.output and ROOT_PW not in down.output
    slapd.start()
    monkeypatch.setenv("LDAP_BIND_PASSWORD", "wrong")
    refused = runner.invoke(app, ["deliver", "directory", "-c", str(config), "--reconcile"])
    assert refused.exit_code == 1 and "check bind_dn and password" in refused.output
    monkeypatch.setenv("LDAP_BIND_PASSWORD", ROOT_PW)
    again = runner.invoke(app, ["deliver", "directory", "-c", str(config), "--reconcile"])
    assert again.exit_code == 0, again.output
    (row,) = json.loads(runner.invoke(app, ["targets", "-c", str(config), "--json"]).output)
    assert (row["status"], row["lag"]) == ("ok", 0)
