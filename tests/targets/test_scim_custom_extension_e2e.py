"""A custom SCIM schema extension, advertised by a real scim2-server, mapped and read back.

scim2-server is started with RFC 7643's schemas and resource types plus an ``acme`` user
extension (its own ``--schema`` and ``--resource-type`` files): a new user is created with the
extension's value in the ``POST``, a changed value is one ``PATCH``, a value changed by hand in
the server is put back by a reconcile, and a server that does not advertise the extension
never receives it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest

from idpsync.store import Store
from idpsync.targets import http_client, run_delivery
from idpsync.targets.session import DeliveryResult
from tests.targets.scim_support import TOKEN, Directory, ScimServer, target_settings
from tests.targets.test_target_attributes_e2e import Counting, scim_users

pytestmark = pytest.mark.slow
ACME = "urn:example:params:scim:schemas:extension:acme:2.0:User"
BADGE = f"{ACME}:badge"
ATTRIBUTES = {BADGE: "{{ attributes.badge }}"}


def _defaults(name: str) -> list[dict[str, Any]]:
    document: list[dict[str, Any]] = json.loads(
        resources.files("scim2_server").joinpath("resources", name).read_text()
    )
    return document


@pytest.fixture
def acme_server(tmp_path: Path) -> Iterator[ScimServer]:
    """scim2-server advertising the ``acme`` extension for users."""
    schemas = _defaults("default-schemas.json")
    schemas.append(
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": ACME,
            "name": "AcmeUser",
            "description": "Acme's own user attributes",
            "attributes": [
                {
                    "name": "badge",
                    "type": "string",
                    "multiValued": False,
                    "required": False,
                    "caseExact": False,
                    "mutability": "readWrite",
                    "returned": "default",
                    "uniqueness": "none",
                }
            ],
        }
    )
    types = _defaults("default-resource-types.json")
    for kind in types:
        if kind["id"] == "User":
            kind.setdefault("schemaExtensions", []).append({"schema": ACME, "required": False})
    (tmp_path / "schemas.json").write_text(json.dumps(schemas))
    (tmp_path / "types.json").write_text(json.dumps(types))
    server = ScimServer(
        "--schema", str(tmp_path / "schemas.json"), "--resource-type", str(tmp_path / "types.json")
    )
    server.start()
    yield server
    server.kill()


async def deliver_acme(
    store: Store, url: str, counting: Counting | None = None, **kwargs: Any
) -> DeliveryResult:
    settings = target_settings(url).model_copy(update={"attributes": ATTRIBUTES})
    async with http_client(settings, transport=counting) as client:
        result: DeliveryResult = await run_delivery(store, "scim", settings, client, **kwargs)
    assert result.status == "ok", result.message
    return result


async def test_a_custom_extension_is_created_changed_and_repaired(
    sqlite_store: Store, directory: Directory, acme_server: ScimServer
) -> None:
    directory.user("u1", "ada", attributes={"badge": "B-7"})
    directory.user("u2", "bob")
    await directory.sync(sqlite_store)
    counting = Counting()
    await deliver_acme(sqlite_store, acme_server.url, counting)
    assert counting.writes == ["POST /v2/Users", "POST /v2/Users"]  # the value in the POST
    users = scim_users(acme_server.url)
    assert users["ada"][ACME] == {"badge": "B-7"} and ACME in users["ada"]["schemas"]
    assert ACME not in users["bob"]

    directory.user("u1", "ada", attributes={"badge": "B-8"})
    await directory.sync(sqlite_store)
    counting = Counting()
    await deliver_acme(sqlite_store, acme_server.url, counting)
    assert counting.writes == [f"PATCH /v2/Users/{users['ada']['id']}"]
    assert scim_users(acme_server.url)["ada"][ACME] == {"badge": "B-8"}

    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": BADGE, "value": "forged"}],
    }
    with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        url = f"{acme_server.url}/Users/{users['ada']['id']}"
        client.patch(url, json=patch).raise_for_status()
    repaired = await deliver_acme(sqlite_store, acme_server.url, reconcile=True)
    assert repaired.counts.get("attributes_repaired") == 1
    assert repaired.warnings == [
        f"mapped attributes of user 'ada' (hr) differed in the target and were set again: {BADGE}"
    ]
    assert scim_users(acme_server.url)["ada"][ACME] == {"badge": "B-8"}


async def test_a_server_without_the_extension_never_receives_it(
    sqlite_store: Store, directory: Directory, scim_server: ScimServer
) -> None:
    directory.user("u1", "ada", attributes={"badge": "B-7"})
    await directory.sync(sqlite_store)
    counting = Counting()
    await deliver_acme(sqlite_store, scim_server.url, counting)
    assert counting.writes == ["POST /v2/Users"]
    assert not any(ACME.encode() in body for body in counting.bodies)
    assert "badge" not in json.dumps(scim_users(scim_server.url)["ada"])
