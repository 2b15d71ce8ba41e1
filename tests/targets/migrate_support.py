"""An Okta org and an Entra tenant with overlapping people, for the handover tests.

Person ``i`` is ``p{i}@corp.example`` with employee id ``E{i}`` in both IdPs, except:
every tenth (``i % 10 == 3``) has a new e-mail address in Entra (matched by employee id);
``i % 20 == 7`` has two Entra accounts with the same employee id and other e-mail addresses
(ambiguous); the last three are only in Okta; four ``n{j}`` are only in Entra. Five groups
``Team k`` (members ``i % 5 == k``) exist in both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import SecretStr

from idpsync.app.runner import run_sync
from idpsync.config import ConnectorSettings, GuardSettings
from idpsync.config_policy import PolicySettings
from idpsync.emulators.entra import EntraEmulator
from idpsync.emulators.tenant import Tenant, TenantGroup, TenantUser
from idpsync.model import Snapshot
from idpsync.sources.base import no_progress
from idpsync.sources.okta.settings import OktaSourceSettings
from idpsync.store import Store
from idpsync.targets import http_client, run_delivery
from idpsync.targets.delivery import deliver
from idpsync.targets.ldap import LdapTarget
from idpsync.targets.ldap_link import LdapLink
from idpsync.targets.session import Session
from tests.sources.entra_support import EntraWorld
from tests.sources.okta_support import ORG, FakeClock, RecordingEmulator, source
from tests.targets.scim_support import target_settings
from tests.targets.slapd_support import ROOT_DN, ROOT_PW, ldap_settings

DOMAIN = "corp.example"
LENIENT = GuardSettings(max_deactivate_share=1.0, max_snapshot_shrink=1.0)
KEYS = ["email", "attributes.employeeId"]


def _person(uid: str, alias: str, mail: str, employee: str) -> TenantUser:
    return TenantUser(
        id=uid,
        alias=alias,
        display_name=f"Person {alias}",
        given_name="Person",
        surname=alias,
        mail=mail,
        employee_id=employee,
    )


def _entra_id(n: int) -> str:
    return f"e0000000-0000-4000-8000-{n:012d}"


@dataclass
class Orgs:
    """Both IdPs and which Entra ids are the same person as which Okta id."""

    people: int
    okta: RecordingEmulator = field(init=False)
    entra: EntraEmulator = field(init=False)
    same: dict[str, str] = field(default_factory=dict)
    """Okta id → Entra id of the people a handover should match."""
    only_new: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        okta_tenant, entra_tenant = Tenant("okta-corp", DOMAIN), Tenant(_entra_id(0), DOMAIN)
        for k in range(5):
            okta_tenant.add_group(TenantGroup(id=f"00g{k:05d}", name=f"Team {k}"))
            entra_tenant.add_group(TenantGroup(id=_entra_id(900000 + k), name=f"Team {k}"))
        for i in range(self.people):
            oid, eid, alias = f"00u{i:05d}", _entra_id(i + 1), f"p{i}"
            mail = f"{alias}@{DOMAIN}"
            okta_tenant.add_user(_person(oid, alias, mail, f"E{i}"))
            okta_tenant.add_member(f"00g{i % 5:05d}", oid)
            if i >= self.people - 3:
                continue  # only in Okta
            if i % 20 == 7:  # two Entra accounts claim the same employee id
                entra_tenant.add_user(_person(eid, alias, f"{alias}.a@{DOMAIN}", f"E{i}"))
                other = _entra_id(500000 + i)
                entra_tenant.add_user(_person(other, f"{alias}x", f"{alias}.b@{DOMAIN}", f"E{i}"))
                self.only_new += [eid, other]
                continue
            if i % 10 == 3:
                mail = f"{alias}.renamed@{DOMAIN}"
            entra_tenant.add_user(_person(eid, alias, mail, f"E{i}"))
            entra_tenant.add_member(_entra_id(900000 + i % 5), eid)
            self.same[oid] = eid
        for j in range(4):
            eid = _entra_id(700000 + j)
            entra_tenant.add_user(_person(eid, f"n{j}", f"n{j}@{DOMAIN}", f"N{j}"))
            self.only_new.append(eid)
        self.okta = RecordingEmulator(okta_tenant, clock=FakeClock())
        self.entra = EntraEmulator(entra_tenant)

    def okta_settings(self) -> ConnectorSettings:
        """Okta's employee number as the directory attribute ``employeeId``."""
        return ConnectorSettings(
            source=OktaSourceSettings(
                type="okta", base_url=ORG, api_token=SecretStr(self.okta.api_token)
            ),
            policy=PolicySettings.model_validate(
                {
                    "mapping": {
                        "attributes": {"employeeId": "{{ attributes.profile.employeeNumber }}"}
                    }
                }
            ),
            guard=LENIENT,
        )

    def entra_world(self, store: Store) -> EntraWorld:
        """The Entra connector (``entra``), reading ``employeeId`` into the same attribute."""
        policy = PolicySettings.model_validate(
            {"mapping": {"attributes": {"employeeId": "{{ attributes.employeeId }}"}}}
        )
        return EntraWorld(self.entra, store, policy=policy)

    async def sync_okta(self, store: Store) -> None:
        """One full run of ``okta``."""
        src = source(self.okta)
        try:
            result = await run_sync(store, "okta", self.okta_settings(), src)
        finally:
            await src.aclose()
        assert result.status == "succeeded", result.message

    async def shadow_entra(self, store: Store) -> None:
        """What a run in shadow mode does: stage the Entra tenant, leave the directory alone."""
        world = self.entra_world(store)
        src = world.source()
        try:
            snap: Snapshot = await src.snapshot(no_progress)
        finally:
            await src.aclose()
        assert snap.complete, snap.incomplete_reasons
        run_id = store.start_run("entra", "full", True)
        with store.transaction() as conn:
            store.ensure_connector(conn, "entra", "entra")
            store.write_stage(conn, "entra", snap, run_id)
        store.finish_run(run_id, "dry_run")


class Writes(httpx.AsyncBaseTransport):
    """Counts the SCIM requests that create or delete users and groups."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.creates = 0
        self.deletes = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith(("/Users", "/Groups")):
            self.creates += 1
        if request.method == "DELETE":
            self.deletes += 1
        return await self.inner.handle_async_request(request)


class CountingLink(LdapLink):
    """An LDAP link that counts entries added and deleted."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.adds = 0
        self.deletes = 0

    async def run(self, operation: str, dn: str, call: Any) -> Any:
        """Count, then run the operation."""
        self.adds += operation == "ADD"
        self.deletes += operation == "DELETE"
        return await super().run(operation, dn, call)


async def deliver_both(store: Store, scim_url: str, ldap_url: str) -> tuple[int, int]:
    """Deliver to the SCIM and the LDAP target; creations and deletions in both together."""
    scim = target_settings(scim_url)
    writes = Writes()
    async with http_client(scim, transport=writes) as client:
        result = await run_delivery(store, "scim", scim, client)
    assert result.status == "ok", result.message
    ldap = ldap_settings(ldap_url)
    assert ldap.ldap is not None
    link = CountingLink(url=ldap_url, bind_dn=ROOT_DN, password=ROOT_PW, timeout=5)
    target = LdapTarget(link, ldap.options, ldap.ldap)
    try:
        done = await deliver(Session(store, "ldap", ldap, target))
    finally:
        await target.close()
    assert done.status == "ok", done.message
    return writes.creates + link.adds, writes.deletes + link.deletes


__all__ = ["KEYS", "Orgs", "deliver_both"]
