"""The Google emulator: spec conformance, paging, errors, auth flows, quota."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import googleapiclient
import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from idpsync.emulators.google import GoogleEmulator
from idpsync.emulators.google.api import ROUTES, STANDARD
from idpsync.emulators.google.auth import JWT_BEARER, READ_SCOPES

DISCOVERY = (
    Path(googleapiclient.__file__).parent / "discovery_cache/documents/admin.directory_v1.json"
)
API = "/admin/directory/v1"


def _methods(resources: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for resource in resources.values():
        for method in resource.get("methods", {}).values():
            found[method["id"]] = method
        found.update(_methods(resource.get("resources", {})))
    return found


def test_every_served_route_and_parameter_is_in_the_discovery_document() -> None:
    doc = json.loads(DISCOVERY.read_text())
    methods = _methods(doc["resources"])
    assert set(doc["parameters"]) >= STANDARD
    for method_id, (path, params) in ROUTES.items():
        spec = methods[method_id]
        assert spec["httpMethod"] == "GET"
        assert spec["path"] == path, method_id
        assert params <= set(spec["parameters"]), (method_id, params - set(spec["parameters"]))
        assert spec.get("parameterOrder", []) == [
            p for p in ("userKey", "groupKey", "memberKey") if "{" + p + "}" in path
        ]
    users = doc["schemas"]["Users"]["properties"]
    assert {"kind", "etag", "users", "nextPageToken"} <= set(users)
    assert {"kind", "id", "primaryEmail", "photoData", "mimeType"} <= set(
        doc["schemas"]["UserPhoto"]["properties"]
    )


def _rendered_keys_follow_schema(doc: dict[str, Any], schema: str, body: dict[str, Any]) -> None:
    assert set(body) <= set(doc["schemas"][schema]["properties"]), (
        schema,
        set(body) - set(doc["schemas"][schema]["properties"]),
    )


def client(emu: GoogleEmulator, token: str | None = None) -> httpx.Client:
    headers = {"authorization": f"Bearer {token or emu.issue_token()}"}
    return httpx.Client(
        transport=_Sync(emu), base_url="https://admin.googleapis.com", headers=headers
    )


class _Sync(httpx.BaseTransport):
    """Run the ASGI emulator from synchronous tests."""

    def __init__(self, emu: GoogleEmulator) -> None:
        self.inner = httpx.ASGITransport(app=emu)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        import asyncio

        async def go() -> httpx.Response:
            response = await self.inner.handle_async_request(request)
            body = b"".join([part async for part in response.stream])  # type: ignore[union-attr]
            return httpx.Response(response.status_code, headers=response.headers, content=body)

        return asyncio.run(go())


@pytest.fixture
def emu() -> GoogleEmulator:
    return GoogleEmulator.generate(users=130, groups=15, seed=5)


def test_bodies_follow_the_discovery_schemas(emu: GoogleEmulator) -> None:
    doc = json.loads(DISCOVERY.read_text())
    with client(emu) as http:
        users = http.get(f"{API}/users", params={"customer": "my_customer"}).json()
        groups = http.get(f"{API}/groups", params={"domain": "example.com"}).json()
        members = http.get(f"{API}/groups/{groups['groups'][0]['id']}/members").json()
        with_photo = next(u for u in users["users"] if "thumbnailPhotoEtag" in u)
        photo = http.get(f"{API}/users/{with_photo['id']}/photos/thumbnail").json()
    _rendered_keys_follow_schema(doc, "Users", users)
    for user in users["users"]:
        _rendered_keys_follow_schema(doc, "User", user)
    _rendered_keys_follow_schema(doc, "Groups", groups)
    _rendered_keys_follow_schema(doc, "Group", groups["groups"][0])
    _rendered_keys_follow_schema(doc, "Members", members)
    _rendered_keys_follow_schema(doc, "Member", members["members"][0])
    _rendered_keys_follow_schema(doc, "UserPhoto", photo)
    assert base64.urlsafe_b64decode(photo["photoData"]).startswith(b"\xff\xd8")
    assert photo["etag"] == with_photo["thumbnailPhotoEtag"]


def test_paging_limits_and_required_parameters(emu: GoogleEmulator) -> None:
    with client(emu) as http:
        first = http.get(f"{API}/users", params={"customer": "my_customer", "maxResults": 100})
        body = first.json()
        second = http.get(
            f"{API}/users",
            params={
                "customer": "my_customer",
                "maxResults": 100,
                "pageToken": body["nextPageToken"],
                "alt": "json",
            },
        ).json()
        too_big = http.get(f"{API}/users", params={"customer": "my_customer", "maxResults": 501})
        no_scope = http.get(f"{API}/users")
        groups_big = http.get(
            f"{API}/groups", params={"customer": "my_customer", "maxResults": 201}
        )
        unknown = http.get(f"{API}/users", params={"customer": "my_customer", "bogus": "1"})
        other_token = http.get(
            f"{API}/users", params={"domain": "example.com", "pageToken": body["nextPageToken"]}
        )
    assert len(body["users"]) == 100 and len(second["users"]) == 30
    assert "nextPageToken" not in second
    assert too_big.status_code == 400
    assert too_big.json()["error"]["message"].endswith("[1, 500]")
    assert no_scope.status_code == 400
    assert no_scope.json()["error"]["errors"][0]["reason"] == "badRequest"
    assert groups_big.status_code == 400 and unknown.status_code == 400
    assert other_token.status_code == 400


def test_user_keys_aliases_deleted_suspended_archived(emu: GoogleEmulator) -> None:
    t = emu.tenant
    uid = t.user_ids[5]
    user = t.users[uid]
    t.add_alias(uid, "nick@example.com")
    t.set_archived(uid)
    t.update_user(uid, enabled=False)
    gone = t.user_ids[6]
    gone_email = t.login(t.users[gone])
    t.delete_user(gone)
    with client(emu) as http:
        by_email = http.get(f"{API}/users/{t.login(user).replace('@', '%40')}").json()
        by_alias = http.get(f"{API}/users/nick%40example.com").json()
        by_id = http.get(f"{API}/users/{t.gid(uid)}").json()
        deleted = http.get(f"{API}/users/{gone_email}")
        missing = http.get(f"{API}/users/nobody@example.com")
        listed = http.get(f"{API}/users", params={"customer": "my_customer", "showDeleted": "true"})
        suspended = http.get(
            f"{API}/users", params={"customer": "my_customer", "query": "isSuspended=true"}
        ).json()
    assert by_email["id"] == by_alias["id"] == by_id["id"] == t.gid(uid)
    assert by_id["suspended"] is True and by_id["archived"] is True
    assert by_id["suspensionReason"] == "ADMIN"
    assert by_id["aliases"] == ["nick@example.com"]
    assert deleted.status_code == 412
    assert missing.status_code == 404
    assert missing.json()["error"]["errors"][0]["reason"] == "notFound"
    assert [u["primaryEmail"] for u in listed.json()["users"]] == [gone_email]
    assert "deletionTime" in listed.json()["users"][0]
    assert {u["id"] for u in suspended["users"]} == {
        t.gid(u.id) for u in t.users.values() if not u.enabled
    }


def test_manager_relation_groups_of_user_and_derived_members(emu: GoogleEmulator) -> None:
    t = emu.tenant
    uid = next(u for u in t.user_ids if t.users[u].manager_id)
    manager = t.users[t.users[uid].manager_id or ""]
    chain_top = next(g for g in t.groups if t.groups[g].name.startswith("Diamond top"))
    with client(emu) as http:
        user = http.get(f"{API}/users/{t.gid(uid)}").json()
        groups = http.get(f"{API}/groups", params={"userKey": t.gid(uid)}).json()
        direct = http.get(f"{API}/groups/{t.gid(chain_top)}/members").json()
        derived = http.get(
            f"{API}/groups/{t.gid(chain_top)}/members",
            params={"includeDerivedMembership": "true"},
        ).json()
        both = http.get(
            f"{API}/groups", params={"userKey": "x@example.com", "customer": "my_customer"}
        )
    assert user["relations"] == [{"value": t.login(manager), "type": "manager"}]
    assert {g["id"] for g in groups["groups"]} == {t.gid(g) for g in t.direct_groups(uid)}
    assert {m["id"] for m in direct["members"]} == {t.gid(m) for m in t.member_list(chain_top)}
    assert "GROUP" in {m["type"] for m in direct["members"]}
    assert len(derived["members"]) > len(direct["members"])
    assert {m["id"] for m in derived["members"]} == {
        t.gid(m) for m in t.transitive_members(chain_top)
    }
    assert both.status_code == 400


def test_empty_lists_omit_their_key(emu: GoogleEmulator) -> None:
    t = emu.tenant
    lonely = emu.tenant.user_ids[0]
    for gid in list(t.direct_groups(lonely)):
        t.remove_member(gid, lonely)
    from idpsync.emulators.tenant import TenantGroup

    t.add_group(TenantGroup(id="empty-group", name="Empty", mail_nickname="empty"))
    with client(emu) as http:
        groups = http.get(f"{API}/groups", params={"userKey": t.gid(lonely)}).json()
        members = http.get(f"{API}/groups/empty%40example.com/members").json()
    assert "groups" not in groups and "members" not in members
    assert members["kind"] == "admin#directory#members"


def _assertion(emu: GoogleEmulator, **claims: Any) -> str:
    sa = emu.service_account
    now = int(time.time())
    body = {
        "iss": sa.client_email,
        "scope": " ".join(READ_SCOPES),
        "aud": "https://oauth2.googleapis.com/token",
        "iat": now,
        "exp": now + 3600,
        **claims,
    }
    body = {k: v for k, v in body.items() if v is not None}
    key = RSAKey.import_key(sa.private_key_pem)
    return jwt.encode({"alg": "RS256", "kid": sa.private_key_id}, body, key)


def test_jwt_bearer_grant_and_its_errors(emu: GoogleEmulator) -> None:
    with client(emu, "none") as http:
        ok = http.post(
            "/token",
            data={"grant_type": JWT_BEARER, "assertion": _assertion(emu, sub=emu.admin_email)},
        )
        legacy = http.post(
            "/oauth2/v4/token",
            data={"grant_type": JWT_BEARER, "assertion": _assertion(emu, sub=emu.admin_email)},
        )
        scopes = http.post(
            "/token",
            data={
                "grant_type": JWT_BEARER,
                "assertion": _assertion(
                    emu,
                    sub=emu.admin_email,
                    scope="https://www.googleapis.com/auth/admin.directory.user",
                ),
            },
        )
        stranger = http.post(
            "/token",
            data={"grant_type": JWT_BEARER, "assertion": _assertion(emu, sub="eve@evil.example")},
        )
        forged = _assertion(emu, sub=emu.admin_email)[:-6] + "AAAAAA"
        bad_sig = http.post("/token", data={"grant_type": JWT_BEARER, "assertion": forged})
        expired = http.post(
            "/token",
            data={
                "grant_type": JWT_BEARER,
                "assertion": _assertion(emu, sub=emu.admin_email, iat=1000, exp=4600),
            },
        )
        no_sub = http.post("/token", data={"grant_type": JWT_BEARER, "assertion": _assertion(emu)})
    assert ok.status_code == 200 and ok.json()["access_token"].startswith("ya29.")
    assert legacy.status_code == 200
    assert scopes.status_code == 401 and scopes.json()["error"] == "unauthorized_client"
    assert stranger.status_code == 400 and stranger.json()["error"] == "invalid_grant"
    assert bad_sig.json() == {
        "error": "invalid_grant",
        "error_description": "Invalid JWT Signature.",
    }
    assert expired.json()["error"] == "invalid_grant"
    with client(emu, no_sub.json()["access_token"]) as http:
        denied = http.get(f"{API}/users", params={"customer": "my_customer"})
    assert denied.status_code == 403
    assert denied.json()["error"]["errors"][0]["reason"] == "forbidden"


def test_consent_code_refresh_and_revocation(emu: GoogleEmulator) -> None:
    redirect = "http://127.0.0.1:9/callback"
    params = {
        "client_id": emu.client_id,
        "redirect_uri": redirect,
        "response_type": "code",
        "scope": " ".join(READ_SCOPES),
        "access_type": "offline",
        "prompt": "consent",
        "state": "xyz",
    }
    with client(emu, "none") as http:
        consent = http.get("/o/oauth2/v2/auth", params=params)
        query = parse_qs(urlsplit(consent.headers["location"]).query)
        form = {
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "client_id": emu.client_id,
            "client_secret": emu.client_secret,
            "redirect_uri": redirect,
        }
        tokens = http.post("/token", data=form).json()
        reused = http.post("/token", data=form)
        refresh = {
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": emu.client_id,
            "client_secret": emu.client_secret,
        }
        refreshed = http.post("/token", data=refresh)
        emu.oauth.revoke_refresh_tokens()
        revoked = http.post("/token", data=refresh)
        emu.oauth.consent = "deny"
        denied = http.get("/o/oauth2/v2/auth", params=params)
    assert consent.status_code == 302 and query["state"] == ["xyz"]
    assert tokens["refresh_token"].startswith("1//")
    assert reused.json()["error"] == "invalid_grant"
    assert refreshed.status_code == 200 and "refresh_token" not in refreshed.json()
    assert revoked.json() == {
        "error": "invalid_grant",
        "error_description": "Token has been expired or revoked.",
    }
    assert parse_qs(urlsplit(denied.headers["location"]).query) == {
        "error": ["access_denied"],
        "state": ["xyz"],
    }


def test_quota_bucket_and_storms() -> None:
    now = [0.0]
    emu = GoogleEmulator.generate(users=10, groups=3, seed=1, quota=3, clock=lambda: now[0])
    with client(emu) as http:
        answers = [
            http.get(f"{API}/groups", params={"customer": "my_customer"}).status_code
            for _ in range(4)
        ]
        limited = http.get(f"{API}/groups", params={"customer": "my_customer"}).json()
        now[0] += 20.0
        after = http.get(f"{API}/groups", params={"customer": "my_customer"}).status_code
        emu.storm(1, 429, "rateLimitExceeded")
        emu.storm(1, 403, "rateLimitExceeded")
        storm = [http.get(f"{API}/groups", params={"customer": "my_customer"}) for _ in range(2)]
    assert answers == [200, 200, 200, 403]
    assert limited["error"]["errors"][0]["reason"] == "userRateLimitExceeded"
    assert limited["error"]["errors"][0]["domain"] == "usageLimits"
    assert after == 200
    assert [r.status_code for r in storm] == [429, 403]
    assert all(r.json()["error"]["errors"][0]["reason"] == "rateLimitExceeded" for r in storm)
    assert all("retry-after" not in r.headers for r in storm)


def test_auth_required_and_scopes_checked(emu: GoogleEmulator) -> None:
    with client(emu, "ya29.unknown") as http:
        unknown = http.get(f"{API}/users", params={"customer": "my_customer"})
    emu.expire_tokens()
    with client(emu, None) as http:
        fresh = http.get(f"{API}/users", params={"customer": "my_customer", "maxResults": 1})
    assert unknown.status_code == 401
    assert unknown.json()["error"]["errors"][0]["reason"] == "authError"
    assert fresh.status_code == 200
