"""Mapped attributes go with the create, and a reconcile puts back what was changed by hand.

Against the real servers: scim2-server, slapd and the Crowd emulator. Requests are counted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import ldap3
import pytest

from idpsync.emulators.crowd import CrowdEmulator
from idpsync.store import Store
from idpsync.targets.attributes import ENTERPRISE
from idpsync.targets.delivery import deliver
from idpsync.targets.ldap import LdapTarget
from idpsync.targets.ldap_link import LdapLink
from idpsync.targets.session import Session
from tests.targets.crowd_support import deliver_to
from tests.targets.scim_support import TOKEN, Directory, ScimServer
from tests.targets.slapd_support import ROOT_DN, ROOT_PW, Slapd, ldap_settings
from tests.targets.test_target_attributes_e2e import (
    WITHOUT_BOSS,
    Counting,
    deliver_scim,
    read_entry,
    scim_users,
)

pytestmark = pytest.mark.slow
T = TypeVar("T")
PAGED: dict[str, int] = {}
"""The default ``page_size`` (100), above the emulator's cap on ``max-results`` (3): the
reconcile must still list every user (only an empty page ends a Crowd listing)."""


def team(directory: Directory) -> None:
    """anna (a0) manages zoe (z8); the manager's id sorts first, so she is created first."""
    directory.user("a0", "anna", attributes={"department": "Board", "jobTitle": "Chief"})
    directory.user(
        "z8", "zoe", manager_id="a0", attributes={"department": "R&D", "jobTitle": "Engineer"}
    )


async def test_scim_creates_with_the_extension_and_reconcile_repairs_drift(
    sqlite_store: Store, directory: Directory, scim_server: ScimServer
) -> None:
    team(directory)
    await directory.sync(sqlite_store)
    counting = Counting()
    first = await deliver_scim(sqlite_store, scim_server.url, counting)
    assert (first.status, first.warnings) == ("ok", []), first.message
    assert counting.writes == ["POST /v2/Users", "POST /v2/Users"]  # no PATCH after a create
    assert all(ENTERPRISE.encode() in body for body in counting.bodies)
    users = scim_users(scim_server.url)
    zoe = users["zoe"]
    assert zoe["title"] == "Engineer"
    assert zoe[ENTERPRISE] == {"department": "R&D", "manager": {"value": users["anna"]["id"]}}
    counting = Counting()
    assert (await deliver_scim(sqlite_store, scim_server.url, counting)).status == "ok"
    assert counting.writes == []

    operations = [
        {"op": "replace", "path": f"{ENTERPRISE}:department", "value": "Sales"},
        {"op": "remove", "path": "title"},
        {"op": "replace", "path": f"{ENTERPRISE}:costCenter", "value": "CC-7"},
    ]
    patch = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}
    with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        url = f"{scim_server.url}/Users/{zoe['id']}"
        client.patch(url, json={**patch, "Operations": operations}).raise_for_status()

    repaired = await deliver_scim(sqlite_store, scim_server.url, reconcile=True)
    assert repaired.status == "ok", repaired.message
    assert repaired.counts.get("attributes_repaired") == 1
    assert repaired.warnings == [
        "mapped attributes of user 'zoe' (hr) differed in the target and were set again: "
        f"title, {ENTERPRISE}:costCenter, {ENTERPRISE}:department"
    ]
    zoe = scim_users(scim_server.url)["zoe"]
    assert zoe["title"] == "Engineer"
    assert zoe[ENTERPRISE] == {"department": "R&D", "manager": {"value": users["anna"]["id"]}}
    counting = Counting()
    again = await deliver_scim(sqlite_store, scim_server.url, counting, reconcile=True)
    assert (again.status, again.warnings, counting.writes) == ("ok", [], [])


class CountingLink(LdapLink):
    """Records every write operation (``ADD``, ``MODIFY``…) with its DN."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.writes: list[str] = []

    async def run(self, operation: str, dn: str, call: Callable[[ldap3.Connection], T]) -> T:
        if operation != "SEARCH":
            self.writes.append(f"{operation} {dn.split(',')[0]}")
        return await super().run(operation, dn, call)


async def deliver_ldap(store: Store, slapd: Slapd, *, reconcile: bool = False) -> Any:
    settings = ldap_settings(slapd.url, source_id_attribute=None)
    assert settings.ldap is not None
    link = CountingLink(url=slapd.url, bind_dn=ROOT_DN, password=ROOT_PW, timeout=5)
    target = LdapTarget(link, settings.options, settings.ldap)
    try:
        result = await deliver(Session(store, "ldap", settings, target), reconcile_first=reconcile)
    finally:
        await target.close()
    return result, link.writes


async def test_ldap_add_carries_the_attributes_and_reconcile_repairs_drift(
    sqlite_store: Store, directory: Directory, slapd: Slapd
) -> None:
    team(directory)
    directory.user("u1", "ada", manager_id="z8")  # a report created before her manager
    await directory.sync(sqlite_store)
    result, writes = await deliver_ldap(sqlite_store, slapd)
    assert (result.status, result.warnings) == ("ok", []), result.message
    # one ADD each; ada's manager (zoe, created after her) follows in one MODIFY
    assert writes == ["ADD uid=anna", "ADD uid=ada", "ADD uid=zoe", "MODIFY uid=ada"]
    zoe, anna = read_entry(slapd, "zoe"), read_entry(slapd, "anna")
    assert (zoe["manager"], zoe["departmentNumber"]) == (anna["dn"], "R&D")
    assert zoe["title"] == "Engineer"
    assert read_entry(slapd, "ada")["manager"] == zoe["dn"]
    quiet, writes = await deliver_ldap(sqlite_store, slapd)
    assert (quiet.status, writes) == ("ok", [])  # nothing was left to send

    with slapd.connect() as conn:
        conn.modify(
            zoe["dn"],
            {
                "title": [(ldap3.MODIFY_REPLACE, ["Intern"])],
                "manager": [(ldap3.MODIFY_REPLACE, [read_entry(slapd, "ada")["dn"]])],
            },
        )
        conn.modify(anna["dn"], {"departmentNumber": [(ldap3.MODIFY_DELETE, [])]})
    repaired, writes = await deliver_ldap(sqlite_store, slapd, reconcile=True)
    assert repaired.status == "ok", repaired.message
    assert repaired.counts.get("attributes_repaired") == 2
    assert writes == ["MODIFY uid=anna", "MODIFY uid=zoe"]
    zoe = read_entry(slapd, "zoe")
    assert (zoe["manager"], zoe["title"]) == (anna["dn"], "Engineer")
    assert read_entry(slapd, "anna")["departmentNumber"] == "Board"
    again, writes = await deliver_ldap(sqlite_store, slapd, reconcile=True)
    assert (again.status, again.warnings, writes) == ("ok", [], [])


async def test_crowd_create_is_two_requests_and_reconcile_repairs_drift(
    sqlite_store: Store, directory: Directory, crowd: CrowdEmulator
) -> None:
    team(directory)
    await directory.sync(sqlite_store)
    first = await deliver_to(sqlite_store, crowd)
    assert (first.status, first.warnings) == ("ok", []), first.message
    writes = [r.split("?")[0] for r in crowd.requests if not r.startswith("GET")]
    base = "/rest/usermanagement/1"
    assert writes == [f"POST {base}/user", f"POST {base}/user/attribute"] * 2
    zoe = crowd.state.user("zoe").attributes
    assert (zoe["manager"], zoe["department"], zoe["idpsync-source-id"]) == (
        ["anna"],
        ["R&D"],
        ["z8"],
    )
    crowd.requests.clear()
    assert (await deliver_to(sqlite_store, crowd)).status == "ok"
    assert crowd.requests == []  # nothing was left to send

    zoe["department"] = ["Sales"]
    del zoe["title"]
    crowd.state.user("anna").attributes["manager"] = ["zoe"]  # anna has no manager
    crowd.requests.clear()
    repaired = await deliver_to(sqlite_store, crowd, reconcile=True)
    assert repaired.status == "ok", repaired.message
    assert repaired.counts.get("attributes_repaired") == 2
    zoe = crowd.state.user("zoe").attributes
    assert (zoe["department"], zoe["title"]) == (["R&D"], ["Engineer"])
    assert "manager" not in crowd.state.user("anna").attributes
    crowd.requests.clear()
    again = await deliver_to(sqlite_store, crowd, reconcile=True)
    assert (again.status, again.warnings) == ("ok", [])
    assert [r for r in crowd.requests if not r.startswith("GET")] == []


async def test_crowd_reconcile_creates_with_attributes_and_settles_late_managers(
    sqlite_store: Store, directory: Directory, crowd: CrowdEmulator
) -> None:
    team(directory)
    directory.user("u1", "ada", manager_id="z8")  # created before her manager zoe
    directory.user("u2", "bob", manager_id="gone")  # a manager out of scope
    directory.user("gone", "boss")
    await directory.sync(sqlite_store, user_filters=WITHOUT_BOSS)
    built = await deliver_to(sqlite_store, crowd, options=PAGED, reconcile=True)
    assert built.status == "ok", built.message
    assert built.counts == {"created": 4, "manager_unresolved": 1}
    assert built.warnings == [
        "manager 'gone' of user 'bob' (u2, hr) is not in the directory (out of scope); "
        "the manager reference is left empty"
    ]
    assert crowd.state.user("ada").attributes["manager"] == ["zoe"]
    assert crowd.state.user("zoe").attributes["manager"] == ["anna"]
    assert "manager" not in crowd.state.user("bob").attributes

    crowd.state.user("zoe").attributes["department"] = ["Sales"]
    crowd.state.user("bob").attributes["manager"] = ["anna"]  # set by hand: left as it is
    crowd.requests.clear()
    dry = await deliver_to(sqlite_store, crowd, options=PAGED, reconcile=True, dry_run=True)
    assert dry.status == "dry_run" and [r for r in crowd.requests if r[:3] != "GET"] == []
    assert dry.would_send == ["POST http://crowd.test/rest/usermanagement/1/user/attribute"]
    assert crowd.state.user("zoe").attributes["department"] == ["Sales"]
    fixed = await deliver_to(sqlite_store, crowd, options=PAGED, reconcile=True)
    assert fixed.counts.get("attributes_repaired") == 1
    assert crowd.state.user("zoe").attributes["department"] == ["R&D"]
    assert crowd.state.user("bob").attributes["manager"] == ["anna"]
