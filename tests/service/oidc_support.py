"""An idpsync service whose admin pages sign in through the Keycloak emulator (OpenID Connect)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from idpsync.emulators.keycloak import KeycloakEmulator
from idpsync.emulators.tenant import TenantGroup, TenantUser
from idpsync.store import Store
from tests.service.support import Harness, harness

CLIENT_ID = "idpsync-web"
CLIENT_SECRET = "oidc-client-secret-4f1c9e2b7a"
ISSUER = "http://localhost/realms/acme"
CALLBACK = "http://testserver/login/oidc/callback"

PEOPLE = {
    "ada": ("u-ada", "ada.admin", "Ada Admin", ["g-admins", "g-staff"]),
    "otto": ("u-otto", "otto.operator", "Otto Operator", ["g-helpdesk", "g-staff"]),
    "vera": ("u-vera", "vera.viewer", "Vera Viewer", ["g-staff"]),
    "nobody": ("u-nobody", "nick.nobody", "Nick <b>Nobody</b>", []),
}
GROUPS = {"g-admins": "idpsync-admins", "g-helpdesk": "Helpdesk", "g-staff": "IT staff"}


def emulator(domain_users: str = "example.com") -> KeycloakEmulator:
    """A Keycloak emulator with a sign-in client and four known people."""
    emu = KeycloakEmulator.generate(users=5, groups=2, seed=11)
    for gid, name in GROUPS.items():
        emu.tenant.add_group(TenantGroup(id=gid, name=name))
    for uid, alias, name, groups in PEOPLE.values():
        first, last = name.split(" ", 1)
        mail = f"{alias}@{domain_users}"
        emu.tenant.add_user(TenantUser(uid, alias, name, first, last, mail))
        for gid in groups:
            emu.tenant.add_member(gid, uid)
    emu.oidc.add_client("acme", CLIENT_ID, CLIENT_SECRET, [CALLBACK, "http://127.0.0.1:*"])
    return emu


def oidc_block(
    tmp_path: Path, issuer: str = ISSUER, redirect: str | None = None, extra: str = ""
) -> str:
    """The ``[service.oidc]`` tables (the secret in a file)."""
    secret = tmp_path / "oidc-secret"
    secret.write_text(CLIENT_SECRET + "\n")
    redirect_line = f'redirect_url = "{redirect}"\n' if redirect else ""
    return f"""
[service.oidc]
issuer = "{issuer}"
client_id = "{CLIENT_ID}"
client_secret = "file:{secret}"
display_name = "Keycloak"
{redirect_line}{extra}
[service.oidc.roles]
admin = ["/idpsync-admins"]
operator = ["/helpdesk"]
viewer = ["/IT staff"]
"""


def oidc_harness(tmp_path: Path, store: Store, emu: KeycloakEmulator, extra: str = "") -> Harness:
    """The service over ``store``, reaching the emulator in-process."""
    h = harness(tmp_path, store, extra=oidc_block(tmp_path, extra=extra))
    h.app.state.oidc.transport = emu.transport()
    return h


@dataclass
class Outcome:
    """What a sign-in attempt ended with."""

    authorize_url: str
    callback_url: str
    answer: httpx.Response


async def sign_in(
    web: httpx.AsyncClient, emu: KeycloakEmulator, person: str, tamper_state: bool = False
) -> Outcome:
    """Follow the redirects by hand: idpsync → the emulator's login → idpsync's callback."""
    emu.oidc.sign_in_as(PEOPLE[person][0])
    start = await web.get("/login/oidc")
    assert start.status_code == 303, start.text
    authorize_url = start.headers["location"]
    async with httpx.AsyncClient(transport=emu.transport()) as idp:
        consent = await idp.get(authorize_url)
    assert consent.status_code == 302, consent.text
    callback_url = consent.headers["location"]
    if tamper_state:
        callback_url = re.sub(r"state=[^&]+", "state=forged-state-value", callback_url)
    answer = await web.get(callback_url)
    return Outcome(authorize_url, callback_url, answer)


def query(url: str) -> dict[str, str]:
    """A URL's query parameters (one value each)."""
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
