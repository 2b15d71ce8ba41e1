"""Mapped attributes and manager references delivered into scim2-server, slapd and Crowd."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from idpsync.emulators.crowd import CrowdEmulator
from idpsync.store import Store
from idpsync.targets import http_client, run_delivery
from idpsync.targets.attributes import ENTERPRISE
from tests.targets.crowd_support import deliver_to
from tests.targets.scim_support import TOKEN, Directory, ScimServer, target_settings
from tests.targets.slapd_support import SUFFIX, Slapd, ldap_settings

pytestmark = pytest.mark.slow
WITHOUT_BOSS = [{"action": "exclude", "field": "login", "op": "equals", "value": "boss"}]


def people(directory: Directory) -> None:
    """ada reports to boss; boss has no manager."""
    directory.user(
        "u1",
        "ada",
        manager_id="u9",
        attributes={"department": "R&D", "employeeId": "E-1", "jobTitle": "Engineer"},
    )
    directory.user("u9", "boss", attributes={"department": "Board", "employeeId": "E-9"})


class Counting(httpx.AsyncBaseTransport):
    """Forwards to the real server and counts the writes."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.writes: list[str] = []
        self.bodies: list[bytes] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET":
            self.writes.append(f"{request.method} {request.url.path}")
            self.bodies.append(request.content)
        return await self.inner.handle_async_request(request)


async def deliver_scim(
    store: Store, url: str, transport: Counting | None = None, **kwargs: Any
) -> Any:
    settings = target_settings(url)
    async with http_client(settings, transport=transport) as client:
        return await run_delivery(store, "scim", settings, client, **kwargs)


def scim_users(url: str) -> dict[str, dict[str, Any]]:
    """The server's users by userName, read with plain httpx."""
    with httpx.Client(base_url=url + "/", headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        users = c.get("Users", params={"count": 100}).json()["Resources"]
    return {u["userName"]: u for u in users}


async def test_scim_enterprise_extension_and_a_manager_delivered_after_the_report(
    sqlite_store: Store, directory: Directory, scim_server: ScimServer
) -> None:
    people(directory)
    await directory.sync(sqlite_store, user_filters=WITHOUT_BOSS)
    first = await deliver_scim(sqlite_store, scim_server.url)
    assert first.status == "ok", first.message
    assert first.counts == {"manager_unresolved": 1}
    assert "'u9'" in first.warnings[0] and "not in the directory" in first.warnings[0]
    ada = scim_users(scim_server.url)["ada"]
    assert ada["title"] == "Engineer"
    assert ada[ENTERPRISE] == {"department": "R&D", "employeeNumber": "E-1"}  # no manager

    await directory.sync(sqlite_store)  # boss comes into scope: delivered after ada
    counting = Counting()
    second = await deliver_scim(sqlite_store, scim_server.url, counting)
    assert (second.status, second.warnings) == ("ok", [])
    assert not any(b'"remove"' in body for body in counting.bodies)  # ada: the reference only
    held = scim_users(scim_server.url)
    assert held["ada"][ENTERPRISE]["manager"]["value"] == held["boss"]["id"]
    assert held["boss"][ENTERPRISE] == {"department": "Board", "employeeNumber": "E-9"}

    directory.users["u1"]["attributes"]["department"] = "Platform"  # no core field changes
    await directory.sync(sqlite_store)
    assert (await deliver_scim(sqlite_store, scim_server.url)).status == "ok"
    assert scim_users(scim_server.url)["ada"][ENTERPRISE]["department"] == "Platform"

    directory.users["u1"]["attributes"]["shoeSize"] = "42"  # read by no template
    await directory.sync(sqlite_store)
    counting = Counting()
    assert (await deliver_scim(sqlite_store, scim_server.url, counting)).status == "ok"
    assert counting.writes == []

    del directory.users["u1"]["manager_id"]  # the manager is removed in the IdP
    await directory.sync(sqlite_store)
    assert (await deliver_scim(sqlite_store, scim_server.url)).status == "ok"
    assert "manager" not in scim_users(scim_server.url)["ada"][ENTERPRISE]


def read_entry(slapd: Slapd, uid: str) -> dict[str, Any]:
    with slapd.connect() as conn:
        conn.search(
            SUFFIX,
            f"(uid={uid})",
            attributes=["manager", "departmentNumber", "employeeNumber", "title"],
        )
        entry = conn.entries[0]
        values = {k: v[0] for k, v in entry.entry_attributes_as_dict.items() if v}
        return {"dn": entry.entry_dn, **values}


async def test_ldap_manager_dn_and_hr_attributes_resolve_in_one_run(
    sqlite_store: Store, directory: Directory, slapd: Slapd
) -> None:
    people(directory)
    directory.user("a0", "anna", attributes={"department": "Ops"})  # sorts before her report
    directory.user("z8", "zoe", manager_id="a0", attributes={"title": "Analyst"})
    await directory.sync(sqlite_store)
    settings = ldap_settings(slapd.url, source_id_attribute=None)
    result = await run_delivery(sqlite_store, "ldap", settings, None)
    assert (result.status, result.warnings) == ("ok", []), result.message
    ada, boss = read_entry(slapd, "ada"), read_entry(slapd, "boss")
    assert ada["manager"] == boss["dn"]  # the manager was created after the report
    assert (ada["departmentNumber"], ada["employeeNumber"], ada["title"]) == (
        "R&D",
        "E-1",
        "Engineer",
    )
    zoe = read_entry(slapd, "zoe")
    assert (zoe["manager"], zoe["title"]) == (read_entry(slapd, "anna")["dn"], "Analyst")

    directory.users["u1"]["manager_id"] = "a0"  # a manager change moves the reference
    directory.users["u1"]["attributes"]["department"] = "Sales"
    await directory.sync(sqlite_store)
    again = await run_delivery(sqlite_store, "ldap", settings, None)
    assert again.status == "ok", again.message
    ada = read_entry(slapd, "ada")
    assert (ada["manager"], ada["departmentNumber"]) == (read_entry(slapd, "anna")["dn"], "Sales")

    directory.users["u1"]["attributes"] = {}
    await directory.sync(sqlite_store)
    assert (await run_delivery(sqlite_store, "ldap", settings, None)).status == "ok"
    with pytest.raises(KeyError):
        read_entry(slapd, "ada")["departmentNumber"]


async def test_crowd_user_attributes_and_out_of_scope_manager(
    sqlite_store: Store, directory: Directory, crowd: CrowdEmulator
) -> None:
    people(directory)
    await directory.sync(sqlite_store, user_filters=WITHOUT_BOSS)
    first = await deliver_to(sqlite_store, crowd)
    assert first.status == "ok", first.message
    assert first.counts == {"manager_unresolved": 1}
    attributes = crowd.state.snapshot()["users"]["ada"]["attributes"]
    assert {k: v for k, v in attributes.items() if k != "idpsync-source-id"} == {
        "department": ["R&D"],
        "employeeNumber": ["E-1"],
        "title": ["Engineer"],
    }
    assert attributes["idpsync-source-id"] == ["u1"]  # never overwritten by the mapping

    await directory.sync(sqlite_store)
    second = await deliver_to(sqlite_store, crowd)
    assert (second.status, second.warnings) == ("ok", [])
    assert crowd.state.snapshot()["users"]["ada"]["attributes"]["manager"] == ["boss"]

    directory.users["u1"]["attributes"].pop("jobTitle")
    await directory.sync(sqlite_store)
    assert (await deliver_to(sqlite_store, crowd)).status == "ok"
    assert "title" not in crowd.state.snapshot()["users"]["ada"]["attributes"]
