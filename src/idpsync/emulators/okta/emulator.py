"""The Okta Management API emulator: API tokens, OAuth service apps, users, groups, rate limits.

>>> emu = OktaEmulator.generate(users=100, groups=20, seed=7)
>>> headers = {"Authorization": f"SSWS {emu.api_token}"}

The generic tenant is reshaped the Okta way when the emulator is built: groups hold only users
(Okta has no nested groups, no devices or service principals in groups), the ``All Users``
group becomes the ``BUILT_IN`` group ``Everyone``, every fifth other group is an ``APP_GROUP``.
User statuses live beside the tenant (:meth:`OktaEmulator.set_status`); generated users are
mostly ``ACTIVE`` with a sprinkling of every other status. Changes made after construction are
recorded as System Log events (:mod:`idpsync.emulators.okta.syslog`, served at
``GET /api/v1/logs``). Every response carries ``Date`` and
``X-Rate-Limit-Limit/Remaining/Reset`` (see :mod:`idpsync.emulators.okta.limits`).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from email.utils import formatdate
from typing import Any

from starlette.applications import Starlette

from idpsync.emulators.control import control_routes
from idpsync.emulators.framework import ASGIApp, Charge, Emulator, Receive, Reply, Scope, Send
from idpsync.emulators.generate import TenantSpec, generate_tenant
from idpsync.emulators.injection import Fault, Latency
from idpsync.emulators.okta import api
from idpsync.emulators.okta.auth import Credentials, ServiceApp
from idpsync.emulators.okta.limits import RateLimiter, bucket_of
from idpsync.emulators.okta.render import error_for
from idpsync.emulators.okta.syslog import SystemLog
from idpsync.emulators.tenant import Tenant

STATUSES = (
    "STAGED",
    "PROVISIONED",
    "ACTIVE",
    "RECOVERY",
    "PASSWORD_EXPIRED",
    "LOCKED_OUT",
    "SUSPENDED",
    "DEPROVISIONED",
)
GROUP_TYPES = ("OKTA_GROUP", "APP_GROUP", "BUILT_IN")
_SPRINKLE = {
    5: "LOCKED_OUT",
    11: "PASSWORD_EXPIRED",
    17: "RECOVERY",
    23: "PROVISIONED",
    29: "STAGED",
}
JSON_TYPE = "application/json"


class OktaEmulator(Emulator):
    """Okta's Management API (reads) and org authorization server token endpoint."""

    name = "okta"
    date_header = False  # the emulator sends its own Date (from its clock)

    def __init__(
        self,
        tenant: Tenant,
        *,
        latency: Latency | None = None,
        rate_limit: bool = True,
        limits: dict[str, int] | None = None,
        concurrency: int = 75,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(tenant, latency=latency)
        self.clock = clock
        self.rate_limit = rate_limit
        self.limiter = RateLimiter(clock, limits, concurrency)
        self.credentials = Credentials(clock=clock)
        seed = hashlib.sha256(tenant.tenant_id.encode()).hexdigest()
        self.api_token = self.credentials.add_api_token("00" + seed[:40])
        self.statuses: dict[str, str] = {}
        self.user_texts: dict[str, tuple[tuple[int, str, str], bytes]] = {}
        """Each user's JSON text in list answers, with what it was made for (``api.py``)."""
        self.group_types: dict[str, str] = {}
        self._reshape()
        self._user_version: dict[str, int] = {}
        self._group_version: dict[str, int] = {}
        self._members_version: dict[str, int] = {}
        self._membership_versions: set[int] = set()
        self._scanned = (0, 0)
        self.syslog = SystemLog(tenant, clock, self.status_of)
        """The System Log (``GET /api/v1/logs``), filled from the tenant's change log."""

    @classmethod
    def generate(
        cls,
        users: int = 100,
        groups: int = 20,
        seed: int = 0,
        *,
        medium_every: int = 50,
        **options: Any,
    ) -> OktaEmulator:
        """An emulator over a freshly generated tenant (see :class:`TenantSpec`)."""
        spec = TenantSpec(
            users=users, groups=groups, seed=seed, domain="example.okta.test",
            medium_every=medium_every,
        )  # fmt: skip
        return cls(generate_tenant(spec), **options)

    # ---- control API beyond the tenant's own methods -------------------------------------

    def register_app(
        self,
        client_id: str | None = None,
        *,
        scopes: tuple[str, ...] = ("okta.users.read", "okta.groups.read"),
        public_key_pem: str | None = None,
    ) -> ServiceApp:
        """Register an OAuth service app (a key pair is generated unless a key is given)."""
        return self.credentials.register_app(
            client_id, scopes=scopes, public_key_pem=public_key_pem
        )

    def set_status(self, user_id: str, status: str) -> None:
        """Change a user's status (a change: ``lastUpdated`` moves)."""
        if status not in STATUSES:
            raise ValueError(f"unknown Okta user status {status!r}")
        self.syslog.scan()  # earlier changes keep their own event types
        old = self.status_of(user_id)
        self.statuses[user_id] = status
        self.tenant.update_user(user_id, enabled=status not in ("SUSPENDED", "DEPROVISIONED"))
        self.syslog.transitions[self.tenant.version] = (old, status)

    def status_of(self, user_id: str) -> str:
        """A user's Okta status."""
        status = self.statuses.get(user_id)
        if status is None:
            status = "ACTIVE" if self.tenant.users[user_id].enabled else "SUSPENDED"
        return status

    def group_type(self, group_id: str) -> str:
        """A group's Okta type (new groups are ``OKTA_GROUP``)."""
        return self.group_types.get(group_id, "OKTA_GROUP")

    def expire_tokens(self) -> None:
        """Invalidate every OAuth access token issued so far."""
        self.credentials.expire_all()

    def versions(self, object_id: str) -> tuple[int, int]:
        """``(lastUpdated, lastMembershipUpdated)`` change-log versions of a user or group."""
        self._scan()
        if object_id in self.tenant.users:
            return self._user_version.get(object_id, 0), 0
        return self._group_version.get(object_id, 0), self._members_version.get(object_id, 0)

    def connector_toml(self, base_url: str, name: str = "okta-emulated") -> str:
        """A connector block for ``idpsync.toml`` pointing at this emulator (API token mode)."""
        return (
            f"[connectors.{name}.source]\n"
            'type = "okta"\n'
            f'base_url = "{base_url}"\n'
            'api_token = "env:IDPSYNC_OKTA_TOKEN"\n'
        )

    # ---- framework hooks ------------------------------------------------------------------

    def build_app(self) -> ASGIApp:
        """Starlette routes: the API, the token endpoint and the control routes."""
        routes = [*api.routes(self), *control_routes(self)]
        return Starlette(routes=routes)

    def error_reply(self, status: int, code: str, message: str) -> Reply:
        """An Okta error object (E-code by status); 429 carries the reset headers too."""
        body = json.dumps(error_for(status)).encode()
        headers = [("content-type", JSON_TYPE), ("date", self._date())]
        if status == 429:
            decision = self.limiter.peek("other")
            headers += [
                ("x-rate-limit-limit", str(decision.limit)),
                ("x-rate-limit-remaining", "0"),
                ("x-rate-limit-reset", str(decision.reset)),
            ]
        return Reply(status, body, headers)

    def charge(self, method: str, path: str, query: str, headers: dict[str, str]) -> Charge | None:
        """Charge the path's bucket; every limited answer gets the rate-limit headers."""
        bucket = bucket_of(path)
        if bucket is None:
            return Charge(0, [("date", self._date())])
        decision = self.limiter.charge(bucket) if self.rate_limit else self.limiter.peek(bucket)
        rate_headers = [
            ("date", self._date()),
            ("x-rate-limit-limit", str(decision.limit)),
            ("x-rate-limit-remaining", str(decision.remaining)),
            ("x-rate-limit-reset", str(decision.reset)),
            ("x-okta-request-id", hashlib.sha1(f"{path}{self.clock()}".encode()).hexdigest()[:20]),
        ]
        if decision.allowed or not self.rate_limit:
            return Charge(1, rate_headers)
        wait = max(1, int(decision.reset - self.clock()))
        return Charge(1, rate_headers, retry_after=wait)

    def throttled_reply(self, charge: Charge) -> Reply:
        """429 ``E0000047`` with the bucket's headers."""
        body = json.dumps(error_for(429)).encode()
        return Reply(429, body, [("content-type", JSON_TYPE), *charge.headers])

    def expired_token_reply(self) -> Reply:
        """401 ``E0000011``."""
        return self.error_reply(401, "E0000011", "Invalid token provided")

    def rewrite_page(self, body: Any, url: str, kind: str) -> Any:
        """Okta pages by ``Link`` headers, which this hook cannot touch: pages stay as they are."""
        return body

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, fault: Fault | None
    ) -> tuple[int, float | None]:
        self.limiter.in_flight += 1
        self.syslog.scan()  # changes made since the last request become events now
        try:
            return await super()._handle(scope, receive, send, fault)
        finally:
            self.limiter.in_flight -= 1

    # ---- internals ------------------------------------------------------------------------

    def _date(self) -> str:
        return formatdate(self.clock(), usegmt=True)

    def _reshape(self) -> None:
        """Make the generic tenant look like an Okta org (see module docstring)."""
        t = self.tenant
        t.others.clear()
        t.member_of = {}
        for gid in t.group_ids:
            group = t.groups[gid]
            group.members = {m: None for m in group.members if m in t.users}
            for member in group.members:
                t.member_of.setdefault(member, {})[gid] = None
        others = [gid for gid in t.group_ids if t.groups[gid].name != "All Users"]
        for gid in t.group_ids:
            if t.groups[gid].name == "All Users":
                t.groups[gid].name = "Everyone"
                t.groups[gid].description = "All users in your organization"
                self.group_types[gid] = "BUILT_IN"
        for index, gid in enumerate(others):
            if index % 5 == 4:
                self.group_types[gid] = "APP_GROUP"
        room = 100 - len(t.domain) - 1
        for user in t.users.values():  # Okta's profile limits: names 50, login/email 100
            user.given_name = user.given_name[:50] if user.given_name else user.given_name
            user.surname = user.surname[:50] if user.surname else user.surname
            if len(user.alias) > room:  # keep logins unique: cut, then a short hash of the id
                tag = hashlib.sha1(user.id.encode()).hexdigest()[:8]
                user.alias = f"{user.alias[: room - 9]}.{tag}"
            user.mail = user.mail if user.mail and len(user.mail) <= 100 else None
        t.by_login = {t.login(u).lower(): u.id for u in t.users.values()}
        for index, uid in enumerate(t.user_ids):
            if not t.users[uid].enabled:
                self.statuses[uid] = "DEPROVISIONED" if index % 2 == 0 else "SUSPENDED"
            else:
                self.statuses[uid] = _SPRINKLE.get(index % 41, "ACTIVE")

    def _scan(self) -> None:
        """Bring the per-object version indexes up to date with the tenant's change log."""
        t = self.tenant
        changes, memberships = self._scanned
        for change in t.membership_log[memberships:]:
            self._membership_versions.add(change.version)
        for version, kind, object_id in t.changes[changes:]:
            if kind == "user":
                self._user_version[object_id] = version
            elif version in self._membership_versions:
                self._members_version[object_id] = version
            else:
                self._group_version[object_id] = version
        self._scanned = (len(t.changes), len(t.membership_log))
