"""The Google Workspace emulator: OAuth consent and token endpoints, Directory API v1 reads, quotas.

>>> emu = GoogleEmulator.generate(users=100, groups=20, seed=7)
>>> info = emu.service_account_info("http://127.0.0.1:PORT/token")  # a key file's JSON

Routes (host ignored): ``GET /o/oauth2/v2/auth``, ``POST /token`` and ``POST /oauth2/v4/token``
(see :mod:`.auth`), and under ``/admin/directory/v1/``: ``users``, ``users/{userKey}``,
``users/{userKey}/photos/thumbnail``, ``groups``, ``groups/{groupKey}``,
``groups/{groupKey}/members``, ``groups/{groupKey}/members/{memberKey}`` (a direct member,
else 404; see :mod:`.api`). Path keys are percent-decoded; ``alt=json`` and the other
standard parameters are accepted and ignored; an unknown parameter is a 400.

API calls need a bearer token whose user is a super admin and whose scopes cover the call.
Quota (on unless ``rate_limit=False``): ``quota`` queries per minute per user (the token's
principal) per project (the client), as a refilling bucket; exhausted → **403**
``userRateLimitExceeded``. :meth:`GoogleEmulator.storm` refuses the next requests with 403
``userRateLimitExceeded`` / ``rateLimitExceeded`` or 429 ``rateLimitExceeded``. Google sends no
``Retry-After`` on either.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from idpsync.emulators.control import control_routes
from idpsync.emulators.framework import ASGIApp, Charge, Emulator, Reply, RequestLog
from idpsync.emulators.generate import TenantSpec, generate_tenant
from idpsync.emulators.google import api, service, texts
from idpsync.emulators.google.activity import REPORTS_PATH
from idpsync.emulators.google.auth import (
    READ_SCOPES,
    SCOPE_ROOT,
    OAuthError,
    OAuthServer,
    ServiceAccount,
)
from idpsync.emulators.google.batch import BATCH_PATHS
from idpsync.emulators.google.tenant import GoogleTenant
from idpsync.emulators.injection import Latency, TokenBucket

PREFIX = "/admin/directory/v1/"
STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
          404: "NOT_FOUND", 412: "FAILED_PRECONDITION", 429: "RESOURCE_EXHAUSTED",
          500: "INTERNAL", 503: "UNAVAILABLE"}  # fmt: skip
NEEDS = {
    "users": ("admin.directory.user", "admin.directory.user.readonly"),
    "groups": ("admin.directory.group", "admin.directory.group.readonly"),
    "members": ("admin.directory.group", "admin.directory.group.readonly",
                "admin.directory.group.member", "admin.directory.group.member.readonly"),
    "reports": ("admin.reports.audit.readonly",),
}  # fmt: skip
"""Scopes (any one of) each kind of call needs."""
QUOTA_TEXT = (
    "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user' of "
    "service 'admin.googleapis.com' for consumer 'project_number:{project}'."
)


class GoogleEmulator(Emulator):
    """Admin SDK Directory API v1 + Google's OAuth endpoints over one customer."""

    name = "google"

    def __init__(
        self,
        tenant: GoogleTenant,
        *,
        latency: Latency | None = None,
        rate_limit: bool = True,
        quota: int = 2400,
        clock: Callable[[], float] = time.monotonic,
        report_lag: float = 0.0,
    ) -> None:
        super().__init__(tenant, latency=latency)
        self.tenant: GoogleTenant = tenant
        tenant.activity.lag = report_lag  # seconds before an admin activity is reported
        self.rate_limit, self.quota, self.clock = rate_limit, quota, clock
        self.buckets: dict[tuple[str, str], TokenBucket] = {}
        self._storm: list[tuple[int, str]] = []
        self._throttle = (403, "userRateLimitExceeded")
        self.oauth = OAuthServer(is_user=lambda e: tenant.resolve_user(e) is not None)
        self.project = "idpsync-emu-" + tenant.customer_id.lower()
        scopes = (*READ_SCOPES, SCOPE_ROOT + "admin.reports.audit.readonly")
        self.service_account: ServiceAccount = self.oauth.add_service_account(self.project, scopes)
        self.batched = RequestLog()
        """Every call answered inside a batch (the outer POST is in :attr:`requests`)."""
        self.client_id = f"{self.service_account.client_id[:12]}-emu.apps.googleusercontent.com"
        self.client_secret = "GOCSPX-" + self.service_account.private_key_id[:28]
        self.oauth.add_client(self.client_id, self.client_secret)
        self.oauth.consent_user = self.admin_email

    @classmethod
    def generate(
        cls, users: int = 100, groups: int = 20, seed: int = 0, *, medium_every: int = 50,
        domain: str = "example.com", **options: Any,
    ) -> GoogleEmulator:  # fmt: skip
        """An emulator over a freshly generated customer (see :class:`TenantSpec`)."""
        spec = TenantSpec(users, groups, seed, domain=domain, medium_every=medium_every)
        return cls(GoogleTenant.adopt(generate_tenant(spec)), **options)

    # ---- control API ---------------------------------------------------------------------

    @property
    def admin_email(self) -> str:
        """The primary e-mail of the first super admin."""
        admin = min(self.tenant.admins, key=lambda u: self.tenant.user_ids.index(u))
        return self.tenant.login(self.tenant.users[admin])

    def service_account_info(self, token_uri: str) -> dict[str, str]:
        """The service account key as Google's JSON key file has it."""
        sa = self.service_account
        return {
            "type": "service_account",
            "project_id": self.project,
            "private_key_id": sa.private_key_id,
            "private_key": sa.private_key_pem,
            "client_email": sa.client_email,
            "client_id": sa.client_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
        }

    def issue_token(self, principal: str | None = None) -> str:
        """A valid access token for ``principal`` (default: the admin), all read scopes."""
        from idpsync.emulators.google.auth import READ_SCOPES, Grant

        grant = Grant(self.client_id, principal or self.admin_email, frozenset(READ_SCOPES))
        return self.oauth.issue(grant)

    def expire_tokens(self) -> None:
        """Every access token issued so far is expired (401 on the next call)."""
        self.oauth.expire_tokens()

    def storm(self, count: int, status: int = 403, reason: str = "userRateLimitExceeded") -> None:
        """Refuse the next ``count`` API requests as rate limited (403 or 429)."""
        self._storm.append((count, f"{status}:{reason}"))

    def connector_toml(self, base_url: str, name: str = "google-emulated") -> str:
        """A connector block for this emulator served at ``base_url`` (service account mode)."""
        return (
            f"[connectors.{name}.source]\n"
            'type = "google"\n'
            f'subject = "{self.admin_email}"\n'
            'credentials = "env:IDPSYNC_EMULATOR_KEY"\n'
            f'base_url = "{base_url}"\n'
            f'token_url = "{base_url}/token"\n'
        )

    # ---- framework hooks -----------------------------------------------------------------

    def warm(self) -> None:
        """Every resource's text of a plain read made before listening (see :func:`texts.warm`)."""
        texts.warm(self.tenant)

    def error_reply(self, status: int, code: str, message: str) -> Reply:
        """Google's envelope: ``{"error": {"code", "message", "errors": [...], "status"}}``."""
        reason = {503: "backendError", 500: "backendError"}.get(status, code)
        domain = "usageLimits" if "RateLimit" in reason else "global"
        body = {
            "error": {
                "code": status,
                "message": message,
                "errors": [{"message": message, "domain": domain, "reason": reason}],
                "status": STATUS.get(status, "UNKNOWN"),
            }
        }
        headers = [("content-type", "application/json; charset=UTF-8"), ("vary", "Origin")]
        if status == 401:
            headers.append(("www-authenticate", 'Bearer realm="https://accounts.google.com/"'))
        return Reply(status, json.dumps(body).encode(), headers)

    def charge(self, method: str, path: str, query: str, headers: dict[str, str]) -> Charge | None:
        """One query against the per-user-per-project bucket (and any storm)."""
        if not path.startswith(PREFIX):
            return None
        if self._storm:
            count, kind = self._storm[0]
            self._storm[0] = (count - 1, kind)
            if count <= 1:
                self._storm.pop(0)
            status, reason = kind.split(":")
            self._throttle = (int(status), reason)
            return Charge(1, [], retry_after=1)
        grant = self.oauth.tokens.get(headers.get("authorization", "")[7:].strip())
        if grant is None or not self.rate_limit:
            return Charge(1, [])
        key = (grant.client, grant.principal)
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = TokenBucket(self.quota, 60.0, self.clock)
        decision = bucket.charge(1)
        self._throttle = (403, "userRateLimitExceeded")
        return Charge(1, [], decision.retry_after)

    def throttled_reply(self, charge: Charge) -> Reply:
        """403 ``userRateLimitExceeded`` / ``rateLimitExceeded``, or 429 (no ``Retry-After``)."""
        status, reason = self._throttle
        return self.error_reply(status, reason, QUOTA_TEXT.format(project=self.project))

    def expired_token_reply(self) -> Reply:
        """401 ``authError`` as for an expired token."""
        return self.error_reply(401, "authError", "Invalid Credentials")

    def rewrite_page(self, body: Any, url: str, kind: str) -> Any:
        """``repeat_page``: the token just used again; ``empty_page``: no items, new token."""
        if not isinstance(body, dict) or "kind" not in body:
            return body
        params = dict(parse_qsl(url.partition("?")[2]))
        if kind == "repeat_page" and params.get("pageToken"):
            return {**body, "nextPageToken": params["pageToken"]}
        if kind == "empty_page":
            items = {k: v for k, v in body.items() if not isinstance(v, list)}
            return {**items, "nextPageToken": api.hop_token(params)}
        return body

    # ---- the app -------------------------------------------------------------------------

    def build_app(self) -> ASGIApp:
        """Starlette app: consent, token endpoints, control routes, Directory API."""
        return Starlette(
            routes=[
                Route("/o/oauth2/v2/auth", self._consent, methods=["GET"]),
                Route("/token", self._token, methods=["POST"]),
                Route("/oauth2/v4/token", self._token, methods=["POST"]),
                *control_routes(self),
                Route("/_emulator/google/{operation}", self._control, methods=["POST"]),
                Route(PREFIX + "{rest:path}", self._api, methods=["GET"]),
                *[Route(path, self._batch, methods=["POST"]) for path in BATCH_PATHS],
                Route(REPORTS_PATH, self._reports, methods=["GET"]),
            ]
        )

    async def _consent(self, request: Request) -> Response:
        status, where = self.oauth.consent_redirect(dict(request.query_params))
        if status == 302:
            return RedirectResponse(where, 302)
        return PlainTextResponse(where, status)

    async def _token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        try:
            body = self.oauth.token_request(form)
        except OAuthError as exc:
            return JSONResponse(exc.body(), exc.status)
        return JSONResponse(body, headers={"cache-control": "no-cache, no-store, max-age=0"})

    async def _control(self, request: Request) -> Response:
        operation = request.path_params["operation"]
        args: dict[str, Any] = await request.json()
        if operation not in ("set_archived", "add_alias", "make_admin"):
            return JSONResponse({"error": f"unknown operation {operation!r}"}, 404)
        try:
            getattr(self.tenant, operation)(**args)
        except (KeyError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse({"ok": True})

    async def _api(self, request: Request) -> Response:
        raw = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
        reply = self.answer(raw, dict(request.query_params), request.headers.get("authorization"))
        return Response(reply.body, reply.status, dict(reply.headers))

    def answer(self, raw_path: str, params: dict[str, str], authorization: str | None) -> Reply:
        """A Directory API ``GET`` (raw path) answered, or its error, as a :class:`Reply`."""
        parts = [unquote(p) for p in raw_path[len(PREFIX) :].strip("/").split("/")]
        try:
            route = _route(parts) if raw_path.startswith(PREFIX) else None
            if route is None:
                raise api.ApiError(404, "notFound", "Not Found")
            kind = "members" if route.startswith("directory.members") else parts[0]
            self.authorize(authorization, kind)
            body = self._dispatch(route, parts, params)
        except api.ApiError as exc:
            return self.error_reply(exc.status, exc.reason, exc.message)
        headers = [("content-type", "application/json; charset=UTF-8")]
        text = texts.dumps(body)  # each listed resource's text made once a tenant version
        return Reply(200, text.encode(), [*headers, ("etag", body.get("etag", '""'))])

    def within_latency(self, method: str, path: str) -> bool:
        """A batch's calls are answered during its latency.

        Google answers a batch's calls on many servers at once; this emulator, on one core,
        would otherwise add the parsing of the batch and each call's answer to the round trip.
        """
        return method == "POST" and path in BATCH_PATHS

    async def _batch(self, request: Request) -> Response:
        return await service.batch(self, request)

    async def _reports(self, request: Request) -> Response:
        return await service.reports(self, request)

    def authorize(self, header: str | None, resource: str) -> None:
        """Check a bearer token: a super admin whose scopes cover ``resource``."""
        if not header or not header.lower().startswith("bearer "):
            raise api.ApiError(401, "required", "Login Required.")
        grant = self.oauth.tokens.get(header[7:].strip())
        if grant is None or grant.expires <= time.time():
            raise api.ApiError(401, "authError", "Invalid Credentials")
        if not grant.scopes & {SCOPE_ROOT + s for s in NEEDS[resource]}:
            raise api.ApiError(
                403, "insufficientPermissions", "Request had insufficient authentication scopes."
            )
        user = self.tenant.resolve_user(grant.principal)
        if user is None or user.id not in self.tenant.admins:
            raise api.ApiError(403, "forbidden", "Not Authorized to access this resource/api")

    def _dispatch(self, route: str, parts: list[str], params: dict[str, str]) -> dict[str, Any]:
        t = self.tenant
        allowed = api.ROUTES[route][1] | api.STANDARD
        unknown = sorted(set(params) - allowed)
        if unknown:
            raise api.ApiError(400, "invalid", f"Invalid parameter: {unknown[0]}")
        if route == "directory.users.list":
            return api.list_users(t, params)
        if route == "directory.users.get":
            return api.get_user(t, parts[1], params)
        if route == "directory.users.photos.get":
            return api.get_photo(t, parts[1])
        if route == "directory.groups.list":
            return api.list_groups(t, params)
        if route == "directory.groups.get":
            return api.get_group(t, parts[1])
        if route == "directory.members.get":
            return api.get_member(t, parts[1], parts[3])
        return api.list_members(t, parts[1], params)


def _route(parts: list[str]) -> str | None:
    """The discovery method id a path stands for."""
    shapes = {
        ("users",): "directory.users.list",
        ("users", "*"): "directory.users.get",
        ("users", "*", "photos", "thumbnail"): "directory.users.photos.get",
        ("groups",): "directory.groups.list",
        ("groups", "*"): "directory.groups.get",
        ("groups", "*", "members"): "directory.members.list",
        ("groups", "*", "members", "*"): "directory.members.get",
    }
    for shape, route in shapes.items():
        if len(shape) == len(parts) and all(
            s in ("*", p) for s, p in zip(shape, parts, strict=True)
        ):
            return route
    return None
