"""Mapped attributes in the create request and read back for a reconcile, without a server."""

from __future__ import annotations

import json
from typing import Any

from idpsync.store import Store
from idpsync.targets import crowd_protocol, ldap_protocol
from idpsync.targets.attribute_drift import drift
from idpsync.targets.attributes import ENTERPRISE, UserRef, differs
from idpsync.targets.scim_attributes import read_back, with_attributes
from idpsync.targets.state import TargetState
from tests.targets.scim_support import Directory
from tests.targets.strict_scim import ScimFail, StrictScim
from tests.targets.test_scim_strict import deliver

CUSTOM = "urn:example:params:scim:schemas:extension:acme:2.0:User"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"


def test_creation_body_carries_core_and_advertised_extension_values() -> None:
    payload = {"schemas": [CORE], "userName": "ada", "name": {"givenName": "Ada"}}
    values = {
        "title": "Engineer",
        "name.honorificPrefix": "Dr",
        f"{ENTERPRISE}:department": "R&D",
        f"{ENTERPRISE}:manager": UserRef("id-9"),
        f"{CUSTOM}:badge": "42",  # not advertised: never sent
        'addresses[type eq "work"].locality': "Paris",  # a filter: PATCH after the create
        f"{ENTERPRISE}:costCenter": None,  # blank: not sent
    }
    body, rest = with_attributes(payload, values, frozenset({ENTERPRISE}))
    assert body == {
        "schemas": [CORE, ENTERPRISE],
        "userName": "ada",
        "name": {"givenName": "Ada", "honorificPrefix": "Dr"},
        "title": "Engineer",
        ENTERPRISE: {"department": "R&D", "manager": {"value": "id-9"}},
    }
    assert rest == {'addresses[type eq "work"].locality': "Paris"}
    assert payload == {"schemas": [CORE], "userName": "ada", "name": {"givenName": "Ada"}}


def test_values_are_read_back_from_a_user_resource() -> None:
    resource: dict[str, Any] = {
        "id": "1",
        "Title": "Engineer",  # attribute names compare without case
        "name": {"honorificPrefix": "Dr"},
        "emails": [{"value": "a@example.org"}],
        ENTERPRISE: {"department": "R&D", "manager": {"value": "id-9", "displayName": "B"}},
        CUSTOM: {"badge": 42},
    }
    keys = [
        "title",
        "name.honorificPrefix",
        "nickName",
        "emails",  # a list: cannot be compared
        f"{ENTERPRISE}:department",
        f"{ENTERPRISE}:manager",
        f"{ENTERPRISE}:costCenter",
        f"{CUSTOM}:badge",
        'addresses[type eq "work"].locality',
    ]
    assert read_back(resource, keys, frozenset({ENTERPRISE})) == {
        "title": ("Engineer",),
        "name.honorificPrefix": ("Dr",),
        "nickName": (),
        f"{ENTERPRISE}:department": ("R&D",),
        f"{ENTERPRISE}:manager": (UserRef("id-9"),),
        f"{ENTERPRISE}:costCenter": (),
    }
    assert read_back(resource, [f"{CUSTOM}:badge"], frozenset({CUSTOM})) == {
        f"{CUSTOM}:badge": ("42",)
    }


def test_differs_treats_blank_as_absent() -> None:
    assert not differs(None, ()) and not differs("", ("",)) and not differs("R&D", ("R&D",))
    assert differs(None, ("R&D",)) and differs("R&D", ()) and differs("R&D", ("R&D", "Ops"))
    assert differs(UserRef("b"), (UserRef("a"),)) and not differs(UserRef("a"), (UserRef("a"),))


def test_drift_compares_only_what_can_be_read_and_decided() -> None:
    wanted = {"department": "R&D", "title": "Engineer", "manager": None, "room": "B-1"}
    rendered = {"department": "R&D", "title": "Engineer", "manager": "u9", "room": "B-1"}
    held = {"department": ("Sales",), "title": ("Engineer",), "manager": (UserRef("x"),)}
    # room cannot be read back; the manager u9 is not in the target: its reference stays
    assert drift(wanted, rendered, held) == {"department": "R&D"}
    no_manager = {**rendered, "manager": None}
    assert drift(wanted, no_manager, held) == {"department": "R&D", "manager": None}


def test_ldap_entries_give_mapped_values_and_manager_ids() -> None:
    entry = {
        "DepartmentNumber": ["R&D"],
        "manager": ["UID=Boss,ou=people,dc=example,dc=org"],
        "title": [],
    }
    ids = {ldap_protocol.dn_key("uid=boss,ou=people,dc=example,dc=org"): "uuid-9"}
    held = ldap_protocol.held_values(entry, ["departmentNumber", "manager", "title"], ids)
    assert held == {"departmentNumber": ("R&D",), "manager": (UserRef("uuid-9"),), "title": ()}
    stray = ldap_protocol.held_values({"manager": ["cn=x,dc=org"]}, ["manager"], ids)
    assert stray == {"manager": ("cn=x,dc=org",)}  # not a known user: never equal to a reference


def test_crowd_users_keep_the_mapped_attributes_but_never_the_source_id() -> None:
    resource = {
        "name": "ada",
        "attributes": {
            "attributes": [
                {"name": "idpsync-source-id", "values": ["u1"]},
                {"name": "department", "values": ["R&D"]},
                {"name": "manager", "values": ["boss"]},
            ]
        },
    }
    mapped = ["department", "manager", "title", "idpsync-source-id"]
    user = crowd_protocol.parse_user(resource, "idpsync-source-id", mapped)
    assert user.external_id == "u1"
    assert user.attributes == {
        "department": ("R&D",),
        "manager": (UserRef("boss"),),
        "title": (),
    }
    assert crowd_protocol.parse_user(resource, "idpsync-source-id").attributes is None


async def test_strict_server_gets_the_title_in_the_post_and_no_patch(
    sqlite_store: Store, directory: Directory
) -> None:
    server = StrictScim()  # advertises no extension: only core values are sent
    directory.user("u1", "ada", attributes={"jobTitle": "Engineer", "department": "R&D"})
    await directory.sync(sqlite_store)
    result = await deliver(sqlite_store, server)
    assert result.status == "ok", result.message
    assert [r for r in server.requests if not r.startswith("GET")] == ["POST /Users"]
    (ada,) = server.users.values()
    assert ada["title"] == "Engineer" and ENTERPRISE not in ada


async def test_a_create_refused_for_a_mapped_value_still_creates_the_person(
    sqlite_store: Store, directory: Directory
) -> None:
    server = StrictScim()

    def no_titles(method: str, path: str, body: Any) -> ScimFail | None:
        if body and "title" in json.dumps(body):
            return ScimFail(400, "title is read-only here", "mutability")
        return None

    server.reject = no_titles
    directory.user("u1", "ada", attributes={"jobTitle": "Engineer"})
    await directory.sync(sqlite_store)
    result = await deliver(sqlite_store, server, retry_base_seconds=3600)
    assert result.status == "ok" and result.rejected == 1
    writes = [r for r in server.requests if not r.startswith("GET")]
    assert writes[:2] == ["POST /Users", "POST /Users"] and writes[2].startswith("PATCH /Users/")
    assert [u["userName"] for u in server.users.values()] == ["ada"]  # created, without title
    (failure,) = TargetState(sqlite_store, "scim").failures()
    assert "title is read-only here" in failure["reason"]
