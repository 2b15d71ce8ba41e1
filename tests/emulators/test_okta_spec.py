"""The Okta emulator's routes, query parameters and bodies checked against Okta's OpenAPI spec."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
import yaml

from idpsync.emulators.okta import GROUP_TYPES, STATUSES, OktaEmulator
from tests.reference import spec_path as reference_spec

ORG = "https://acme.okta.test"
# The emulator's API routes, the query parameters it reads, and the spec's path template.
ROUTES = {
    "/api/v1/users": ({"limit", "after", "filter", "search"}, "/api/v1/users"),
    "/api/v1/users/{key}": (set(), "/api/v1/users/{id}"),
    "/api/v1/users/{key}/groups": (set(), "/api/v1/users/{id}/groups"),
    "/api/v1/groups": ({"limit", "after", "filter", "search"}, "/api/v1/groups"),
    "/api/v1/groups/{gid}": (set(), "/api/v1/groups/{groupId}"),
    "/api/v1/groups/{gid}/users": ({"limit", "after"}, "/api/v1/groups/{groupId}/users"),
    "/api/v1/logs": ({"since", "until", "filter", "limit", "sortOrder", "after"}, "/api/v1/logs"),
}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    """The spec, parsed once (it is 3.4 MB)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with reference_spec("okta-management.yaml").open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=loader)


def resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def violations(spec: dict[str, Any], schema: dict[str, Any], value: Any, at: str) -> list[str]:
    """Where ``value`` breaks ``schema`` (types, enums, nullability, required, nested)."""
    schema = resolve(spec, schema)
    for key in ("allOf", "anyOf", "oneOf"):
        if key in schema:
            options = [violations(spec, s, value, at) for s in schema[key]]
            if key == "allOf":
                return [v for found in options for v in found]
            return [] if any(not found for found in options) else options[0]
    if value is None:
        return [] if schema.get("nullable") or not schema.get("type") else [f"{at}: null"]
    kind = schema.get("type")
    python = {
        "string": str,
        "object": dict,
        "array": list,
        "boolean": bool,
        "integer": int,
        "number": (int, float),
    }
    if kind in python and not isinstance(value, python[kind]):
        return [f"{at}: {type(value).__name__} is not {kind}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{at}: {value!r} not in {schema['enum']}"]
    found: list[str] = []
    if kind == "array":
        for i, item in enumerate(value):
            found += violations(spec, schema.get("items", {}), item, f"{at}[{i}]")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        found += [f"{at}: missing {r}" for r in schema.get("required", []) if r not in value]
        for name, item in value.items():
            if name in props:
                found += violations(spec, props[name], item, f"{at}.{name}")
            elif props and schema.get("additionalProperties") is False:
                found.append(f"{at}: unknown property {name}")
    return found


def operation(spec: dict[str, Any], path: str) -> dict[str, Any]:
    return spec["paths"][path]["get"]


def parameters(spec: dict[str, Any], path: str) -> set[str]:
    item = spec["paths"][path]
    params = [*item.get("parameters", []), *item["get"].get("parameters", [])]
    return {resolve(spec, p)["name"] for p in params}


def body_schema(spec: dict[str, Any], path: str, status: str) -> dict[str, Any]:
    response = resolve(spec, operation(spec, path)["responses"][status])
    return response["content"]["application/json"]["schema"]


def test_every_route_and_parameter_is_in_the_spec(spec: dict[str, Any]) -> None:
    emu = OktaEmulator.generate(users=5, groups=3)
    served = {
        r.path
        for r in emu.build_app().routes
        if r.path.startswith("/api/")  # type: ignore[attr-defined]
    }
    assert served == set(ROUTES)
    for route, (params, spec_path) in ROUTES.items():
        assert re.sub(r"\{\w+\}", "{}", route) == re.sub(r"\{\w+\}", "{}", spec_path)
        assert "get" in spec["paths"][spec_path], spec_path
        declared = parameters(spec, spec_path)
        assert params <= declared, (route, params - declared)


def test_enums_match_the_spec(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    assert set(STATUSES) == set(schemas["UserStatus"]["enum"])
    assert set(GROUP_TYPES) == set(schemas["GroupType"]["enum"])


async def test_bodies_match_the_spec_schemas(spec: dict[str, Any]) -> None:
    emu = OktaEmulator.generate(users=120, groups=12, seed=3)
    headers = {"Authorization": f"SSWS {emu.api_token}"}
    t = emu.tenant
    uid, gid = t.user_ids[0], t.group_ids[0]
    t.update_user(uid, job_title="Changed")  # System Log events to check too
    t.remove_member(gid, next(iter(t.groups[gid].members)))
    emu.set_status(uid, "SUSPENDED")
    calls = [
        ("/api/v1/users", "/api/v1/users", {"limit": "50"}),
        ("/api/v1/users", "/api/v1/users", {"filter": 'status eq "DEPROVISIONED"'}),
        (f"/api/v1/users/{uid}", "/api/v1/users/{id}", {}),
        (f"/api/v1/users/{uid}/groups", "/api/v1/users/{id}/groups", {}),
        ("/api/v1/groups", "/api/v1/groups", {}),
        (f"/api/v1/groups/{gid}", "/api/v1/groups/{groupId}", {}),
        (f"/api/v1/groups/{gid}/users", "/api/v1/groups/{groupId}/users", {"limit": "10"}),
        ("/api/v1/logs", "/api/v1/logs", {"since": "2020-01-01T00:00:00.000Z"}),
    ]
    async with httpx.AsyncClient(transport=emu.transport(), base_url=ORG) as http:
        for url, spec_path, params in calls:
            response = await http.get(url, params=params, headers=headers)
            assert response.status_code == 200, url
            schema = body_schema(spec, spec_path, "200")
            assert violations(spec, schema, response.json(), url) == []
        missing = await http.get("/api/v1/users/nobody", headers=headers)
        assert missing.status_code == 404
        error = body_schema(spec, "/api/v1/users/{id}", "404")
        assert violations(spec, error, missing.json(), "404") == []
        assert missing.json()["errorCode"] == "E0000007"


def test_the_validator_catches_a_wrong_body(spec: dict[str, Any]) -> None:
    user = resolve(spec, {"$ref": "#/components/schemas/User"})
    found = violations(spec, user, {"id": 5, "status": "GONE", "profile": {"login": None}}, "u")
    assert any("status" in f for f in found) and any(".id" in f for f in found)
