"""The Keycloak emulator: Admin REST API, token endpoint, and sign-in (OpenID Connect).

>>> emu = KeycloakEmulator.generate(users=100, groups=20, seed=7)
>>> transport = emu.transport()  # for httpx.AsyncClient(transport=…)

Paths (``prefix`` is ``/auth`` with ``auth_prefix=True``, as Keycloak ≤ 16 served them):

- ``POST {prefix}/realms/{realm}/protocol/openid-connect/token`` (see :mod:`.auth`);
- ``GET {prefix}/realms/{realm}``: the realm's public information;
- the realm as an OpenID provider for sign-in (see :mod:`.oidc`):
  ``GET {prefix}/realms/{realm}/.well-known/openid-configuration``,
  ``GET {prefix}/realms/{realm}/protocol/openid-connect/auth`` and ``…/certs``, and the code
  grant on the token endpoint;
- ``GET {prefix}/admin/realms/{realm}/…``: ``users``, ``users/count``, ``users/{id}``,
  ``users/{id}/groups``, ``groups``, ``groups/count``, ``groups/{id}``,
  ``groups/{id}/children`` (shape 23 only), ``groups/{id}/members``, ``group-by-path/{path}``,
  ``admin-events`` and ``events/config`` (role ``view-events``; see :mod:`.events`: recorded
  only while ``admin_events`` is on, as with the realm setting ``adminEventsEnabled``).

No rate limit (Keycloak has none); latency and faults come from the framework, and the
server's own cost of an answer (rows rendered, rows skipped by ``first``) from ``cost``
(see :mod:`.cost`; each answer's cost is recorded in :attr:`KeycloakEmulator.costs`). 401
``{"error":"HTTP 401 Unauthorized"}`` for a missing, unknown or expired token, 403
``{"error":"HTTP 403 Forbidden"}`` without the realm-management role a call needs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from idpsync.emulators.control import control_routes
from idpsync.emulators.framework import ASGIApp, Charge, Emulator, Reply
from idpsync.emulators.generate import TenantSpec, generate_tenant
from idpsync.emulators.injection import Latency
from idpsync.emulators.keycloak import api, reads
from idpsync.emulators.keycloak.api import AdminError, Tree, number
from idpsync.emulators.keycloak.auth import (
    DEFAULT_ROLES,
    Client,
    OAuthError,
    Realms,
    client_credentials,
)
from idpsync.emulators.keycloak.cost import Charged, ServerCost, rows_of
from idpsync.emulators.keycloak.events import AdminEventLog
from idpsync.emulators.keycloak.oidc import OpenIdProvider
from idpsync.emulators.tenant import Tenant, TenantUser

ADMIN_CLI = "admin-cli"
SIGN_IN_CLIENT = "idpsync-web"
"""The client :meth:`KeycloakEmulator.enable_sign_in` registers for ``idpsync serve``."""
NEEDS = {
    "users": "query-users",
    "users/count": "query-users",
    "users/{id}": "view-users",
    "users/{id}/groups": "view-users",
    "groups": "query-groups",
    "groups/count": "query-groups",
    "groups/{id}": "query-groups",
    "groups/{id}/children": "query-groups",
    "groups/{id}/members": "view-users",
    "group-by-path": "query-groups",
    "admin-events": "view-events",
    "events/config": "view-events",
}
"""The realm-management role each admin read needs (composites expanded)."""


class KeycloakEmulator(Emulator):
    """Keycloak's Admin REST API over one generated realm (see module docstring)."""

    name = "keycloak"

    def __init__(
        self,
        tenant: Tenant,
        *,
        realm: str = "acme",
        shape: int = 23,
        auth_prefix: bool = False,
        latency: Latency | None = None,
        cost: ServerCost | None = None,
        admin_events: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(tenant, latency=latency)
        self.cost = cost or ServerCost()
        """The server-cost model (no cost unless given; see :mod:`.cost`)."""
        self.costs: list[Charged] = []
        """Each admin answer's modelled cost, in order (what tests check instead of clocks)."""
        self.realm = realm
        self.shape = shape
        """Keycloak major version whose group shape is served: ≥ 23 or ≤ 22."""
        self.prefix = "/auth" if auth_prefix else ""
        self.realms = Realms(clock=clock)
        seed = hashlib.sha256(tenant.tenant_id.encode()).hexdigest()
        self.client_id = "idpsync"
        self.client_secret = f"kc-{seed[:32]}"
        self.admin_user, self.admin_password = "admin", f"pw-{seed[32:48]}"
        self.realms.add_client(
            realm, Client(self.client_id, self.client_secret, True, DEFAULT_ROLES)
        )
        self.realms.add_client("master", Client(ADMIN_CLI, None))
        self.realms.add_client(realm, Client(ADMIN_CLI, None))
        self.realms.admins[self.admin_user] = self.admin_password
        self._cache: dict[str, tuple[int, Any]] = {}
        self.oidc = OpenIdProvider(self.realms, tenant, self.tree, clock=clock)
        """The realm as an OpenID provider (sign-in): see :mod:`.oidc`."""
        self.sign_in_user: str | None = None
        """The username :meth:`enable_sign_in` signs in, if it was called."""
        realm_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant.tenant_id}/{realm}"))
        self.events = AdminEventLog(tenant, realm_id, clock)
        """The realm's admin events (see :mod:`.events`)."""
        self.events.enabled = admin_events  # on from the start: no "turned on" event

    @classmethod
    def generate(
        cls,
        users: int = 100,
        groups: int = 20,
        seed: int = 0,
        *,
        medium_every: int = 50,
        **options: Any,
    ) -> KeycloakEmulator:
        """An emulator over a generated tenant (see :class:`TenantSpec`)."""
        spec = TenantSpec(users=users, groups=groups, seed=seed, medium_every=medium_every)
        return cls(generate_tenant(spec), **options)

    # ---- control API ---------------------------------------------------------------------

    def add_client(
        self, client_id: str, secret: str, roles: frozenset[str] = DEFAULT_ROLES
    ) -> None:
        """Register another service-account client in the realm with these roles."""
        self.realms.add_client(self.realm, Client(client_id, secret, True, frozenset(roles)))

    def set_admin_events(self, enabled: bool) -> None:
        """Turn the realm's ``adminEventsEnabled`` on or off (turning on is itself an event)."""
        self.events.set_enabled(enabled)

    def set_roles(self, roles: frozenset[str], client_id: str | None = None) -> None:
        """Change the realm-management roles of a service account (new tokens only)."""
        self.realms.clients[self.realm][client_id or self.client_id].roles = frozenset(roles)

    def issue_token(self) -> str:
        """A valid token of the default service account, without the token endpoint."""
        return self.realms.issue(self.realm, DEFAULT_ROLES)

    def expire_tokens(self) -> None:
        """Every access token issued so far is now expired (401 on the next call)."""
        self.realms.expire_all()

    def tree(self) -> Tree:
        """The group tree as served now (cached per tenant version)."""
        tree: Tree = self.cached("tree", lambda: api.build_tree(self.tenant))
        return tree

    def sorted_users(self) -> list[TenantUser]:
        """Users in Keycloak's order (username), cached per tenant version."""
        users: list[TenantUser] = self.cached(
            "users",
            lambda: sorted(self.tenant.users.values(), key=lambda u: (api.username(u), u.id)),
        )
        return users

    def enable_sign_in(self, login: str) -> str:
        """Let ``idpsync serve`` on this machine sign in as ``login`` (username or e-mail).

        Registers the client ``idpsync-web`` (redirect URIs on ``127.0.0.1`` and ``localhost``,
        any port) and makes the user consent at once; returns the client's secret.
        """
        wanted = login.lower()
        for user in self.tenant.users.values():
            if wanted in (api.username(user), (user.mail or "").lower()):
                break
        else:
            raise KeyError(f"no user with the username or e-mail {login!r}")
        secret = f"web-{hashlib.sha256(self.client_secret.encode()).hexdigest()[:32]}"
        uris = ["http://127.0.0.1:*", "http://localhost:*"]
        self.oidc.add_client(self.realm, SIGN_IN_CLIENT, secret, uris)
        self.oidc.sign_in_as(user.id)
        self.sign_in_user = api.username(user)
        return secret

    def connector_toml(self, base_url: str, name: str = "keycloak-emulated") -> str:
        """A ready connector block pointing at this emulator served at ``base_url``.

        ``admin_events = true`` when the realm saves admin events.

        With sign-in enabled, also a ``[service.oidc]`` block giving that user ``admin``.
        """
        block = (
            f"[connectors.{name}.source]\n"
            'type = "keycloak"\n'
            f'base_url = "{base_url}{self.prefix}"\n'
            f'realm = "{self.realm}"\n'
            f'client_id = "{self.client_id}"\n'
            'client_secret = "env:IDPSYNC_EMULATOR_SECRET"\n'
        )
        if self.events.enabled:
            block += "admin_events = true\n"
        if self.sign_in_user is None:
            return block
        return block + (
            "\n[service.oidc]\n"
            f'issuer = "{base_url}{self.prefix}/realms/{self.realm}"\n'
            f'client_id = "{SIGN_IN_CLIENT}"\n'
            'client_secret = "env:IDPSYNC_EMULATOR_OIDC_SECRET"\n'
            'display_name = "Keycloak (emulated)"\n'
            'role_claim = "preferred_username"\n'
            f"roles = {{ admin = [{json.dumps(self.sign_in_user)}] }}\n"
        )

    def cached(self, key: str, build: Callable[[], Any]) -> Any:
        """``build()``, kept until the tenant changes (its ``version``)."""
        hit = self._cache.get(key)
        if hit is None or hit[0] != self.tenant.version:
            hit = (self.tenant.version, build())
            self._cache[key] = hit
        return hit[1]

    # ---- framework hooks -----------------------------------------------------------------

    def error_reply(self, status: int, code: str, message: str) -> Reply:
        """Keycloak's error body ``{"error": …}`` (injected faults read ``unknown_error``)."""
        text = "unknown_error" if status >= 500 else message
        return Reply(status, json.dumps({"error": text}).encode(), _JSON)

    def charge(self, method: str, path: str, query: str, headers: dict[str, str]) -> Charge | None:
        """Keycloak has no rate limit."""
        return None

    def throttled_reply(self, charge: Charge) -> Reply:
        """Never used: no rate limit."""
        return self.error_reply(429, "", "Too Many Requests")

    def expired_token_reply(self) -> Reply:
        """401 as Keycloak sends it for an expired token."""
        body = json.dumps({"error": "HTTP 401 Unauthorized"}).encode()
        return Reply(401, body, [*_JSON, ("www-authenticate", f'Bearer realm="{self.realm}"')])

    def rewrite_page(self, body: Any, url: str, kind: str) -> Any:
        """Offset paging has no next link to repeat: pages are served unchanged."""
        return body

    # ---- the app -------------------------------------------------------------------------

    def build_app(self) -> ASGIApp:
        """Starlette app: token endpoint, realm info, control routes, Admin API."""
        p = self.prefix
        return Starlette(
            routes=[
                Route(
                    p + "/realms/{realm}/protocol/openid-connect/token",
                    self._token,
                    methods=["POST"],
                ),
                Route(p + "/realms/{realm}", self._realm_info),
                Route(p + "/realms/{realm}/.well-known/openid-configuration", self._discovery),
                Route(p + "/realms/{realm}/protocol/openid-connect/auth", self._authorize),
                Route(p + "/realms/{realm}/protocol/openid-connect/certs", self._certs),
                *control_routes(self),
                Route(p + "/admin/realms/{realm}/{rest:path}", self._admin, methods=["GET"]),
            ]
        )

    async def _token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        realm, authorization = request.path_params["realm"], request.headers.get("authorization")
        try:
            # the code grant exists for sign-in clients only; the others keep answering it as
            # an unsupported grant, as before the emulator could sign users in
            code_grant = form.get("grant_type") == "authorization_code"
            if code_grant and self.realms.knows(realm) and self.oidc.signs_in(form, authorization):
                client = self.realms.authenticate(realm, *client_credentials(form, authorization))
                body = self.oidc.redeem(realm, form, client, self._issuer(request, realm))
            else:
                body = self.realms.token_request(realm, form, authorization)
        except OAuthError as exc:
            return JSONResponse(exc.body(), exc.status)
        return JSONResponse(body, headers={"cache-control": "no-store", "pragma": "no-cache"})

    def _issuer(self, request: Request, realm: str) -> str:
        root = f"{request.url.scheme}://{request.headers.get('host', 'localhost')}{self.prefix}"
        return f"{root}/realms/{realm}"

    async def _discovery(self, request: Request) -> Response:
        realm = request.path_params["realm"]
        if not self.realms.knows(realm):
            return JSONResponse({"error": "Realm does not exist"}, 404)
        return JSONResponse(self.oidc.discovery(self._issuer(request, realm)))

    async def _certs(self, request: Request) -> Response:
        if not self.realms.knows(request.path_params["realm"]):
            return JSONResponse({"error": "Realm does not exist"}, 404)
        return JSONResponse(self.oidc.jwks())

    async def _authorize(self, request: Request) -> Response:
        realm = request.path_params["realm"]
        page = self.oidc.authorize(realm, request.query_params, self._issuer(request, realm))
        if page.location is not None:
            return Response(status_code=page.status, headers={"location": page.location})
        return HTMLResponse(page.html, page.status)

    async def _realm_info(self, request: Request) -> Response:
        realm = request.path_params["realm"]
        if not self.realms.knows(realm):
            return JSONResponse({"error": "Realm does not exist"}, 404)
        root = f"{request.url.scheme}://{request.headers.get('host', 'localhost')}{self.prefix}"
        return JSONResponse(
            {
                "realm": realm,
                "public_key": hashlib.sha256(realm.encode()).hexdigest(),
                "token-service": f"{root}/realms/{realm}/protocol/openid-connect",
                "account-service": f"{root}/realms/{realm}/account",
                "tokens-not-before": 0,
            }
        )

    async def _admin(self, request: Request) -> Response:
        realm = request.path_params["realm"]
        segments = [unquote(s) for s in request.path_params["rest"].strip("/").split("/")]
        try:
            issued = self.realms.check(request.headers.get("authorization"))
            if issued is None:
                return _reply(self.expired_token_reply())
            if not self.realms.knows(realm) or realm == "master":
                raise AdminError(404, {"error": "Realm not found."})
            route = _route(segments)
            if not issued.all_realms and issued.realm != realm:
                raise AdminError(403, {"error": "HTTP 403 Forbidden"})
            if NEEDS[route] not in issued.roles:
                raise AdminError(403, {"error": "HTTP 403 Forbidden"})
            self.events.sync()
            params = dict(request.query_params)
            if route == "admin-events":
                result = self.events.query(request.query_params.multi_items())
            else:
                result = self._dispatch(route, segments, params)
            first = max(0, number(params, "first", 0) or 0)
        except AdminError as exc:
            return JSONResponse(exc.body, exc.status)
        rows = rows_of(result)
        delay = self.cost.delay(rows, first)
        if len(self.costs) >= 100_000:  # a long-running emulator keeps the recent half
            del self.costs[:50_000]
        self.costs.append(Charged(route, rows, first, delay))
        if delay:
            await asyncio.sleep(delay)
        if isinstance(result, api.Rendered):
            return Response(result.body(), 200, dict(_JSON))
        return Response(json.dumps(result, ensure_ascii=False).encode(), 200, dict(_JSON))

    def _dispatch(self, route: str, seg: list[str], params: dict[str, str]) -> Any:
        if route == "events/config":
            return self.events.config()
        return reads.HANDLERS[route](self, seg, params)


_JSON = [("content-type", "application/json")]


def _reply(reply: Reply) -> Response:
    return Response(reply.body, reply.status, dict(reply.headers))


def _route(seg: list[str]) -> str:
    head = seg[0]
    if seg == ["admin-events"] or seg == ["events", "config"]:
        return "/".join(seg)
    if head == "group-by-path" and len(seg) >= 2:
        return "group-by-path"
    if head in ("users", "groups"):
        if len(seg) == 1:
            return head
        if len(seg) == 2:
            return f"{head}/count" if seg[1] == "count" else f"{head}/{{id}}"
        if len(seg) == 3 and (head, seg[2]) in (
            ("users", "groups"),
            ("groups", "children"),
            ("groups", "members"),
        ):
            return f"{head}/{{id}}/{seg[2]}"
    raise AdminError(404, {"error": "HTTP 404 Not Found"})
