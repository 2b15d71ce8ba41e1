"""The OneLogin emulator: token endpoint, rate-limit endpoint, v1 and v2 reads, hourly budget.

>>> emu = OneLoginEmulator.generate(users=120, groups=6, roles=5, seed=1)
>>> transport = emu.transport()  # for httpx.AsyncClient(transport=…)

Routes (``docs/emulators.md`` has the details): ``POST /auth/oauth2/v2/token``,
``GET /auth/rate_limit``, ``GET /api/1/users``, ``/api/1/users/{id}``,
``/api/1/users/{id}/roles``, ``/api/1/groups``, ``/api/1/groups/{id}``, ``GET /api/2/users``,
``/api/2/users/{id}``, ``/api/2/roles``, ``/api/2/roles/{id}``, ``/api/2/roles/{id}/users``.
Every ``/api/…`` call with a valid token is charged to the account's hourly budget.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from idpsync.emulators.control import control_routes
from idpsync.emulators.framework import ASGIApp, Charge, Emulator, Reply
from idpsync.emulators.injection import Latency
from idpsync.emulators.onelogin import api
from idpsync.emulators.onelogin.account import Account, generate_account
from idpsync.emulators.onelogin.limits import (
    HOURLY_LIMIT,
    TOKEN_SECONDS,
    HourlyBudget,
    Tokens,
    client_credentials,
)
from idpsync.emulators.onelogin.routes import Handler, account_routes, dispatch
from idpsync.emulators.tenant import Tenant

JSON = "application/json; charset=utf-8"


class OneLoginEmulator(Emulator):
    """OneLogin's API over one :class:`Account`."""

    name = "onelogin"
    date_header = False  # API answers carry Date from the account clock

    def __init__(
        self,
        account: Account,
        *,
        latency: Latency | None = None,
        hourly_limit: int = HOURLY_LIMIT,
        clock: Callable[[], float] | None = None,
        require_auth: bool = True,
    ) -> None:
        super().__init__(Tenant(str(account.account_id), f"{account.subdomain}.onelogin.com"))
        self.latency = latency or Latency()
        self.account = account
        self.clock = clock or account.clock
        account.clock = self.clock
        self.budget = HourlyBudget(hourly_limit, self.clock)
        self.tokens = Tokens(self.clock)
        self.require_auth = require_auth
        self.client_id = f"emu-client-{account.account_id}"
        self.client_secret = f"emu-secret-{account.account_id:x}-onelogin"
        self._version = "2"

    @classmethod
    def generate(
        cls,
        users: int = 100,
        groups: int = 10,
        roles: int = 8,
        seed: int = 0,
        *,
        clock: Callable[[], float] = time.time,
        **options: Any,
    ) -> OneLoginEmulator:
        """An emulator over a generated account (see :func:`generate_account`)."""
        return cls(generate_account(users, groups, roles, seed, clock), clock=clock, **options)

    # ---- control API ---------------------------------------------------------------------

    def issue_token(self) -> str:
        """A valid access token without the token endpoint."""
        return self.tokens.issue()[0]

    def expire_tokens(self) -> None:
        """Every access token issued so far answers 401 from now on."""
        self.tokens.expire_all()

    def connector_toml(self, base_url: str, name: str = "onelogin-emulated") -> str:
        """A ready connector block pointing at this emulator served at ``base_url``."""
        return (
            f"[connectors.{name}.source]\n"
            'type = "onelogin"\n'
            f'base_url = "{base_url}"\n'
            f'client_id = "{self.client_id}"\n'
            'client_secret = "env:IDPSYNC_EMULATOR_SECRET"\n'
            'groups_from = "both"\n'
            'role_prefix = "role: "\n'
        )

    # ---- framework hooks -----------------------------------------------------------------

    def error_reply(self, status: int, code: str, message: str) -> Reply:
        """An injected error in the v2 envelope (``{"statusCode", "name", "message"}``)."""
        body = api.v2_error(api.ApiError(status, message, code))
        return Reply(status, json.dumps(body).encode(), [("content-type", JSON)])

    def charge(self, method: str, path: str, query: str, headers: dict[str, str]) -> Charge | None:
        """Charge ``/api/…`` calls with a valid token to the account's hourly budget."""
        if not path.startswith("/api/") or not self.tokens.valid(headers.get("authorization")):
            return None
        self._version = "1" if path.startswith("/api/1/") else "2"
        usage = self.budget.charge()
        return Charge(1.0, usage.headers(), 0 if usage.allowed else usage.reset)

    def throttled_reply(self, charge: Charge) -> Reply:
        """429 in the envelope of the API version asked for, with the ``X-RateLimit-*`` headers."""
        error = api.ApiError(429, "Rate limit exceeded", "TooManyRequestsError")
        body = api.v1_error(error) if self._version == "1" else api.v2_error(error)
        return Reply(429, json.dumps(body).encode(), [("content-type", JSON), *charge.headers])

    def expired_token_reply(self) -> Reply:
        """401 "Authentication Failure" (v1 envelope, as OneLogin answers an expired token)."""
        body = api.v1_error(api.ApiError(401, "Authentication Failure"))
        return Reply(401, json.dumps(body).encode(), [("content-type", JSON)])

    def rewrite_page(self, body: Any, url: str, kind: str) -> Any:
        """v1 pages only: ``repeat_page`` repeats the cursor just used; ``empty_page`` no data.

        v2 pages carry their cursor in headers, which this hook cannot change; they pass as is.
        """
        if not isinstance(body, dict) or "pagination" not in body:
            return body
        if kind == "repeat_page":
            used = dict(parse_qsl(url.partition("?")[2])).get("after_cursor")
            return {**body, "pagination": {**body["pagination"], "after_cursor": used}}
        return {**body, "data": []}

    # ---- the app -------------------------------------------------------------------------

    def build_app(self) -> ASGIApp:
        """Starlette app: token and rate-limit endpoints, control routes, the API."""
        return Starlette(
            routes=[
                Route("/auth/oauth2/v2/token", self._token, methods=["POST"]),
                Route("/auth/rate_limit", self._rate_limit, methods=["GET"]),
                *account_routes(self.account),
                *control_routes(self),
                Route("/api/{version}/{rest:path}", self._api, methods=["GET"]),
            ]
        )

    async def _token(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            body = {}
        if not isinstance(body, dict) or body.get("grant_type") != "client_credentials":
            error = api.ApiError(400, "grant_type is incorrect/absent")
            return JSONResponse(api.v1_error(error), 400)
        if client_credentials(request.headers.get("authorization")) != (
            self.client_id,
            self.client_secret,
        ):
            error = api.ApiError(401, "Authentication Failure")
            return JSONResponse(api.v1_error(error), 401)
        token, created = self.tokens.issue()
        return JSONResponse(
            {
                "access_token": token,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(created)),
                "expires_in": TOKEN_SECONDS,
                "refresh_token": f"r{token[:40]}",
                "token_type": "bearer",
                "account_id": self.account.account_id,
            }
        )

    async def _rate_limit(self, request: Request) -> Response:
        if self.require_auth and not self.tokens.valid(request.headers.get("authorization")):
            return JSONResponse(api.v1_error(api.ApiError(401, "Authentication Failure")), 401)
        usage = self.budget.peek()
        data = {
            "X-RateLimit-Limit": usage.limit,
            "X-RateLimit-Remaining": usage.remaining,
            "X-RateLimit-Reset": usage.reset,
        }
        return JSONResponse({**api.v1_ok([]), "data": data}, headers=self._date())

    async def _api(self, request: Request) -> Response:
        version = request.path_params["version"]
        handler = Handler(
            self.account,
            version,
            request.path_params["rest"].strip("/").split("/"),
            dict(request.query_params),
            f"{request.url.scheme}://{request.headers.get('host', 'localhost')}",
        )
        try:
            if version not in ("1", "2"):
                raise api.ApiError(404, f"No such API version: {version}", "NotFoundError")
            if self.require_auth and not self.tokens.valid(request.headers.get("authorization")):
                message = "Authentication Failure" if version == "1" else "Unauthorized"
                raise api.ApiError(401, message, "UnauthorizedError")
            body, headers = dispatch(handler)
        except api.ApiError as exc:
            error = api.v1_error(exc) if version == "1" else api.v2_error(exc)
            return JSONResponse(error, exc.status)
        headers = {**headers, **self._date()}
        return Response(json.dumps(body, ensure_ascii=False), 200, headers, JSON)

    def _date(self) -> dict[str, str]:
        """``Date`` from the account clock (what an incremental reader bases ``since`` on)."""
        return {"Date": formatdate(self.account.clock(), usegmt=True)}
