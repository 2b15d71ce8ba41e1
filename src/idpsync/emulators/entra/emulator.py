"""The Microsoft Entra ID (Graph) emulator: token endpoint, directory reads, delta, RU throttling.

>>> emu = EntraEmulator.generate(users=100, groups=20, seed=7)
>>> transport = emu.transport()  # for httpx.AsyncClient(transport=…)

Rate limit (on by default): one token bucket per app + tenant holding 3,500 / 5,000 / 8,000
resource units per 10 s for tenants under 50 / up to 500 / over 500 users. A request costs 2 RU
for ``GET /users``, 3 for ``/groups/{id}/members``, 5 for ``transitiveMembers`` and
``transitiveMemberOf``, 1 otherwise; ``$select`` −1, ``$expand`` +1, ``$top`` under 20 −1, never
below 1. Every API response carries ``x-ms-resource-unit``; an empty bucket answers 429 with
``Retry-After`` and ``x-ms-throttle-information``. A ``$batch`` call costs nothing itself; each
of its items is charged as above (:mod:`idpsync.emulators.entra.batch`).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from idpsync.emulators.control import control_routes
from idpsync.emulators.entra import api
from idpsync.emulators.entra.auth import Directory, TokenError
from idpsync.emulators.entra.batch import BatchRunner
from idpsync.emulators.entra.batch import parse as parse_batch
from idpsync.emulators.entra.delta import DeltaEngine
from idpsync.emulators.entra.odata import GraphError
from idpsync.emulators.entra.texts import Texts, dumps
from idpsync.emulators.framework import ASGIApp, Charge, Emulator, Reply, RequestLog
from idpsync.emulators.generate import TenantSpec, generate_tenant
from idpsync.emulators.injection import Latency, TokenBucket
from idpsync.emulators.tenant import Tenant

VERSIONS = ("v1.0", "beta")
JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;charset=utf-8"
WWW_AUTHENTICATE = (
    'Bearer realm="", '
    'authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
    'client_id="00000003-0000-0000-c000-000000000000"'
)
RELATIONS = frozenset({"members", "transitiveMembers", "memberOf", "transitiveMemberOf"})


def bucket_size(users: int) -> int:
    """Resource units per 10 s for a tenant of this size (Graph identity & access limits)."""
    return 3500 if users < 50 else 5000 if users <= 500 else 8000


def request_cost(segments: list[str], params: dict[str, str]) -> int:
    """Resource units a GET costs (see module docstring)."""
    base = 1
    if segments == ["users"]:
        base = 2
    elif len(segments) == 3 and segments[0] == "groups" and segments[2] == "members":
        base = 3
    elif len(segments) == 3 and segments[2] in ("transitiveMembers", "transitiveMemberOf"):
        base = 5
    cost = base - ("$select" in params) + ("$expand" in params)
    top = params.get("$top", "")
    if top.isdigit() and int(top) < 20:
        cost -= 1
    return max(1, cost)


class EntraEmulator(Emulator):
    """Microsoft Graph + the v2.0 token endpoint over one generated tenant."""

    name = "entra"

    def __init__(
        self,
        tenant: Tenant,
        *,
        latency: Latency | None = None,
        rate_limit: bool = True,
        require_auth: bool = True,
        clock: Callable[[], float] = time.monotonic,
        bucket_capacity: int | None = None,
    ) -> None:
        super().__init__(tenant, latency=latency)
        self.directory = Directory(tenant.tenant_id, tenant.domain)
        self.delta = DeltaEngine()
        self.rate_limit = rate_limit
        self.require_auth = require_auth
        self.clock = clock
        self.bucket_capacity = bucket_capacity
        self.buckets: dict[tuple[str, str], TokenBucket] = {}
        self._cache: dict[tuple[Any, ...], Any] = {}
        self._texts = Texts()
        self.batched = RequestLog()
        """Sub-requests of ``$batch`` calls (:attr:`requests` holds the round trips)."""
        seed = hashlib.sha256(tenant.tenant_id.encode()).hexdigest()
        self.client_id = str(uuid.UUID(seed[:32], version=4))
        self.client_secret = f"emu~{seed[32:64]}"
        self.directory.register_app(self.client_id, self.client_secret)

    @classmethod
    def generate(
        cls,
        users: int = 100,
        groups: int = 20,
        seed: int = 0,
        *,
        medium_every: int = 50,
        **options: Any,
    ) -> EntraEmulator:
        """An emulator over a freshly generated tenant (see :class:`TenantSpec`)."""
        spec = TenantSpec(users=users, groups=groups, seed=seed, medium_every=medium_every)
        return cls(generate_tenant(spec), **options)

    # ---- control API beyond the tenant's own methods -------------------------------------

    def register_app(
        self, client_id: str, secret: str | None = None, certificate_pem: bytes | None = None
    ) -> None:
        """Register another app (client secret and/or certificate for client assertions)."""
        self.directory.register_app(client_id, secret, certificate_pem)

    def issue_token(self, client_id: str | None = None) -> str:
        """A valid access token without the token endpoint (for SDK tests)."""
        return self.directory.issue(client_id or self.client_id)

    def expire_tokens(self) -> None:
        """Every access token issued so far is now expired (401 on the next API call)."""
        self.directory.expire_tokens()

    def expire_delta_tokens(self) -> None:
        """Every delta token issued so far now fails with 400 ``syncStateNotFound``."""
        self.delta.expire_tokens()

    def connector_toml(self, base_url: str, name: str = "entra-emulated") -> str:
        """A ready connector block pointing at this emulator served at ``base_url``."""
        return (
            f"[connectors.{name}.source]\n"
            'type = "entra"\n'
            f'tenant = "{self.tenant.tenant_id}"\n'
            f'client_id = "{self.client_id}"\n'
            'client_secret = "env:IDPSYNC_EMULATOR_SECRET"\n'
            f'base_url = "{base_url}/v1.0"\n'
            f'token_url = "{base_url}/{self.tenant.tenant_id}/oauth2/v2.0/token"\n'
        )

    # ---- framework hooks -----------------------------------------------------------------

    def error_reply(self, status: int, code: str, message: str) -> Reply:
        """Graph's error envelope with ``innerError`` and request ids."""
        request_id = str(uuid.uuid4())
        body = {
            "error": {
                "code": code,
                "message": message,
                "innerError": {
                    "date": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
                    "request-id": request_id,
                    "client-request-id": request_id,
                },
            }
        }
        headers = [("content-type", JSON_TYPE), ("request-id", request_id)]
        if status == 401:
            headers.append(("www-authenticate", WWW_AUTHENTICATE))
        return Reply(status, json.dumps(body).encode(), headers)

    def charge(self, method: str, path: str, query: str, headers: dict[str, str]) -> Charge | None:
        """Charge Graph API calls to the app + tenant bucket."""
        parts = path.strip("/").split("/")
        if parts[0] not in VERSIONS or parts[1:] == ["$batch"]:
            return None  # a batch costs what its items cost, each charged on its own
        entry = self.directory.tokens.get(headers.get("authorization", "")[7:].strip())
        if entry is None:
            return None
        params = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
        cost = request_cost(parts[1:], params)
        if not self.rate_limit:
            return Charge(cost, [("x-ms-resource-unit", str(cost))])
        key = (entry[0], self.tenant.tenant_id)
        bucket = self.buckets.get(key)
        if bucket is None:
            capacity = self.bucket_capacity or bucket_size(len(self.tenant.users))
            bucket = TokenBucket(capacity, 10.0, self.clock)
            self.buckets[key] = bucket
        decision = bucket.charge(cost)
        extra = [("x-ms-resource-unit", str(cost))]
        used = 1.0 - decision.remaining / bucket.capacity
        if used > 0.8:
            extra.append(("x-ms-throttle-limit-percentage", f"{used:.1f}"))
        return Charge(cost, extra, decision.retry_after)

    def throttled_reply(self, charge: Charge) -> Reply:
        """429 with ``Retry-After`` as Graph sends it."""
        reply = self.error_reply(429, "TooManyRequests", "Too many requests.")
        scope = f"Tenant_Application/ReadWrite/{self.client_id}/{self.tenant.tenant_id}"
        headers = [
            *reply.headers,
            *charge.headers,
            ("retry-after", str(charge.retry_after)),
            ("x-ms-throttle-scope", scope),
            ("x-ms-throttle-information", "ResourceUnitLimitExceeded"),
        ]
        return Reply(429, reply.body, headers)

    def expired_token_reply(self) -> Reply:
        """401 for an expired token."""
        return self.error_reply(
            401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired."
        )

    def rewrite_page(self, body: Any, url: str, kind: str) -> Any:
        """``repeat_page``: next link = this link; ``empty_page``: no items, link to real page."""
        if not isinstance(body, dict) or "value" not in body:
            return body
        if kind == "repeat_page":
            return {**body, "@odata.nextLink": url}
        sep = "&" if "?" in url else "?"
        return {
            "@odata.context": body.get("@odata.context"),
            "value": [],
            "@odata.nextLink": f"{url}{sep}emptyhop=1",
        }

    # ---- the app -------------------------------------------------------------------------

    def build_app(self) -> ASGIApp:
        """Starlette app: token endpoint, OpenID metadata, control routes, Graph API."""
        return Starlette(
            routes=[
                Route("/{tenant}/oauth2/v2.0/token", self._token, methods=["POST"]),
                Route("/{tenant}/v2.0/.well-known/openid-configuration", self._openid),
                *control_routes(self),
                Route("/{version}/$batch", self._batch, methods=["POST"]),
                Route("/{version}/{rest:path}", self._graph, methods=["GET"]),
            ]
        )

    async def _token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        tenant = request.path_params["tenant"]
        try:
            body = self.directory.token_request(tenant, form, str(request.url))
        except TokenError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        return JSONResponse(body, headers={"cache-control": "no-store, no-cache"})

    async def _openid(self, request: Request) -> Response:
        tenant = request.path_params["tenant"]
        if not self.directory.knows_tenant(tenant):
            return JSONResponse(
                TokenError(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.").body(),
                400,
            )
        root = f"{request.url.scheme}://{request.headers.get('host', 'localhost')}"
        tid = self.tenant.tenant_id
        return JSONResponse(
            {
                "token_endpoint": f"{root}/{tid}/oauth2/v2.0/token",
                "authorization_endpoint": f"{root}/{tid}/oauth2/v2.0/authorize",
                "issuer": f"{root}/{tid}/v2.0",
                "jwks_uri": f"{root}/{tid}/discovery/v2.0/keys",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "tenant_region_scope": "EU",
            }
        )

    async def _graph(self, request: Request) -> Response:
        version = request.path_params["version"]
        host = request.headers.get("host", "localhost")
        call = api.Call(
            self.tenant,
            f"{request.url.scheme}://{host}/{version}",
            request.path_params["rest"].strip("/").split("/"),
            dict(request.query_params),
            dict(request.headers),
            self._cache,
            self._texts,
        )
        try:
            if version not in VERSIONS:
                raise GraphError(400, "BadRequest", f"Invalid version: {version}")
            if self.require_auth:
                self.directory.client_for(request.headers.get("authorization"))
            result = self._dispatch(call)
        except GraphError as exc:
            reply = self.error_reply(exc.status, exc.code, exc.message)
            return Response(reply.body, reply.status, dict(reply.headers))
        if isinstance(result, api.Binary):
            return Response(result.body, 200, media_type=result.content_type)
        return Response(dumps(result).encode(), 200, {"content-type": JSON_TYPE})

    def within_latency(self, method: str, path: str) -> bool:
        """``$batch``: its items are answered during the call's latency.

        Graph answers a batch's items on many servers at once; this emulator, on one core,
        would otherwise add each item's rendering to the round trip (≈45 ms a call of 20 users
        pages at L).
        """
        return method == "POST" and path.endswith("/$batch")

    async def _batch(self, request: Request) -> Response:
        """``POST /{version}/$batch`` (see :mod:`idpsync.emulators.entra.batch`)."""
        version = request.path_params["version"]
        base = f"{request.url.scheme}://{request.headers.get('host', 'localhost')}/{version}"
        runner = BatchRunner(self, base, version, dict(request.headers))
        try:
            if version not in VERSIONS:
                raise GraphError(400, "BadRequest", f"Invalid version: {version}")
            if self.require_auth:
                self.directory.client_for(request.headers.get("authorization"))
            answers = runner.run(parse_batch(await request.body()))
        except GraphError as exc:
            reply = self.error_reply(exc.status, exc.code, exc.message)
            return Response(reply.body, reply.status, dict(reply.headers))
        body = ('{"responses": [' + ", ".join(dumps(a) for a in answers) + "]}").encode()
        if runner.truncate:
            body = body[: len(body) // 2]
        return Response(body, 200, {"content-type": JSON_TYPE})

    def _dispatch(self, call: api.Call) -> dict[str, Any] | api.Binary:
        seg = call.segments
        head = seg[0]
        if head not in ("users", "groups"):
            raise GraphError(400, "BadRequest", f"Resource not found for the segment '{head}'.")
        if len(seg) == 1:
            return api.list_users(call) if head == "users" else api.list_groups(call)
        key = seg[1]
        if len(seg) == 2 and key in api.DELTA:
            return self.delta.serve(call, head)
        if len(seg) == 2 and key == "$count":
            return api.count(call, head)
        if len(seg) == 2:
            return api.get_user(call, key) if head == "users" else api.get_group(call, key)
        rel = seg[2]
        if len(seg) == 3 and rel in RELATIONS and (head == "groups" or rel.endswith("Of")):
            return api.relations(call, key, head, rel)
        if head == "users" and len(seg) == 3 and rel == "manager":
            return api.manager(call, key)
        if head == "users" and rel in ("photo", "photos"):
            return api.photo(call, key, seg[2:])
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{rel}'.")
