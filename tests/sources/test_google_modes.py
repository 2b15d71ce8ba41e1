"""Both sign-in modes end to end on a real port: OAuth consent + refresh, and a service
account key file through the command line (endpoints, check, sync, sync-user, authorize)."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from idpsync.app.runner import run_sync
from idpsync.auth.authorize import authorize
from idpsync.auth.vault import TokenVault, new_key
from idpsync.cli import app
from idpsync.emulators.google import GoogleEmulator
from idpsync.errors import SourceError
from idpsync.sources.google import http_client
from idpsync.sources.google.reader import GoogleSource
from idpsync.store import Store
from tests.sources.google_support import connector, oauth_settings

runner = CliRunner()


pytestmark = pytest.mark.usefixtures("no_sleep")


def browser(url: str) -> None:
    """The administrator's browser: open the consent page, follow its redirect."""

    def go() -> None:
        answer = httpx.get(url)
        assert answer.status_code == 302, answer.text
        httpx.get(answer.headers["location"])

    threading.Thread(target=go, daemon=True).start()


@pytest.mark.slow
async def test_oauth_consent_sync_revocation_and_refusal(store: Store) -> None:
    emu = GoogleEmulator.generate(users=50, groups=8, seed=4)
    vault = TokenVault(store, SecretStr(new_key()))

    async def load() -> str | None:
        return vault.load("gws")

    async def save(token: str) -> None:
        vault.save("gws", token)

    with emu.serve() as server:
        settings = oauth_settings(
            emu,
            base_url=server.url,
            token_url=f"{server.url}/token",
            auth_url=f"{server.url}/o/oauth2/v2/auth",
        )

        def make() -> GoogleSource:
            return GoogleSource(settings, http_client(settings, "gws", load=load, save=save))

        src = make()
        flow = src.authorization_flow()
        assert flow is not None
        assert flow.extra_params == {"access_type": "offline", "prompt": "consent"}
        await authorize(src.http, flow, "gws", lambda t: vault.save("gws", t), browser, 20)
        await asyncio.sleep(0.2)  # let the loopback listener finish its answer to the browser
        stored = vault.load("gws")
        assert stored and stored.startswith("1//")
        result = await run_sync(store, "gws", connector(settings), src)
        await src.aclose()
        assert result.status == "succeeded", result.message
        assert result.summary()["users_created"] == 50
        grants = [r for r in emu.requests.entries() if r.path == "/token"]
        assert len(grants) == 2  # the code exchange, then one refresh

        emu.oauth.revoke_refresh_tokens()
        emu.expire_tokens()
        revoked_src = make()
        revoked = await run_sync(store, "gws", connector(settings), revoked_src)
        await revoked_src.aclose()
        assert revoked.status == "failed"
        assert "expired or was revoked" in revoked.message
        assert "idpsync authorize gws" in revoked.message
        assert stored not in revoked.message

        emu.oauth.consent = "deny"
        denied_src = make()
        with pytest.raises(SourceError, match="access_denied"):
            await authorize(denied_src.http, flow, "gws", lambda t: None, browser, 20)
        await asyncio.sleep(0.2)
        await denied_src.aclose()


def _config(tmp_path: Path, emu: GoogleEmulator, url: str) -> Path:
    key = tmp_path / "key.json"
    key.write_text(json.dumps(emu.service_account_info(f"{url}/token")))
    path = tmp_path / "idpsync.toml"
    path.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path}/d.db"\n\n'
        f"[connectors.gws.source]\n"
        'type = "google"\n'
        f'credentials = "file:{key}"\n'
        f'subject = "{emu.admin_email}"\n'
        f'base_url = "{url}"\n'
        f'token_url = "{url}/token"\n'
        "quota = 6000\n"
    )
    return path


@pytest.mark.slow
def test_cli_endpoints_check_sync_and_sync_user(tmp_path: Path) -> None:
    emu = GoogleEmulator.generate(users=40, groups=6, seed=8)
    with emu.serve() as server:
        cfg = str(_config(tmp_path, emu, server.url))
        endpoints = runner.invoke(app, ["endpoints", "gws", "-c", cfg, "--json"])
        check = runner.invoke(app, ["check", "gws", "-c", cfg, "--json"])
        sync = runner.invoke(app, ["sync", "gws", "-c", cfg, "--json"])
        one = emu.tenant.login(emu.tenant.users[emu.tenant.user_ids[2]])
        single = runner.invoke(app, ["sync-user", "gws", one, "-c", cfg, "--json"])
        nope = runner.invoke(app, ["authorize", "gws", "-c", cfg])
    assert endpoints.exit_code == 0, endpoints.output
    rows = json.loads(endpoints.output)
    assert [r["name"] for r in rows["endpoints"]] == [
        "token",
        "list_users",
        "list_groups",
        "list_members",
        "get_group",
        "get_user",
        "batch",
    ]  # fmt: skip  (batch_size is 1000 by default: the batch row is shown)
    assert rows["hosts"] == [f"127.0.0.1:{server.port}"]
    assert check.exit_code == 0, check.output
    steps = json.loads(check.output)["steps"]
    # A read per endpoint of the table, the per-object ones with the first user/group found.
    assert [(s["step"], s["status"]) for s in steps][-6:] == [("token", "ok")] + [
        ("read", "ok")
    ] * 5
    assert [s["target"] for s in steps][-5:] == [
        "GET /admin/directory/v1/users",
        "GET /admin/directory/v1/groups",
        "GET /admin/directory/v1/groups/{groupKey}/members",
        "GET /admin/directory/v1/groups/{groupKey}",
        "GET /admin/directory/v1/users/{userKey}",
    ]
    assert sync.exit_code == 0, sync.output
    assert json.loads(sync.output)["gws"]["summary"]["users_created"] == 40
    assert single.exit_code == 0, single.output
    assert "service account" not in nope.output or nope.exit_code != 0
    assert nope.exit_code == 2
    private = emu.service_account.private_key_pem.splitlines()[3]
    for output in (endpoints.output, check.output, sync.output, single.output):
        assert private not in output
