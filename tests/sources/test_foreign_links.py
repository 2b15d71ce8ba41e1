"""End to end: an IdP answer whose next-page link names another origin (issue #26, point 1).

The Entra and Okta emulators are served on 127.0.0.1; a wrapper rewrites the first users page
so its next link (Graph's ``@odata.nextLink``, Okta's ``Link: <…>; rel="next"``) points at a
hostile server on 127.0.0.2 that records every request. ``idpsync sync`` must end ``partial``
(an incomplete read: nothing removed), name the foreign origin, and the hostile server must
receive nothing: above all no ``Authorization`` header.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from idpsync import cli
from idpsync.emulators.entra import EntraEmulator
from idpsync.emulators.okta import OktaEmulator
from idpsync.store import Store
from tests.http.hostile import Hostile

Scope = dict[str, Any]
Message = dict[str, Any]

LENIENT = "[connectors.idp.guard]\nmax_deactivate_share = 1.0\nmax_snapshot_shrink = 1.0\n"


class ForeignNext:
    """Rewrites the first answer to ``path`` (no cursor yet) so its links name ``foreign``."""

    def __init__(self, path: str, home: str, foreign: str, skip: int = 0) -> None:
        self.path, self.home, self.foreign = path, home.encode(), foreign.encode()
        self.fired = 0
        self.skip = skip
        """Answers to ``path`` left alone first (Entra's batch call of delta links and count)."""

    def wrap(self, scope: Scope, send: Any) -> Any:
        query = scope["query_string"]
        first_page = b"after=" not in query and b"skiptoken" not in query
        if self.fired or scope["path"] != self.path or not first_page or b"count=true" in query:
            return send  # only the first page of the listing (not Entra's user count)
        if self.skip:
            self.skip -= 1
            return send
        self.fired += 1
        start: Message = {}

        async def rewritten(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            body = message.get("body", b"").replace(self.home, self.foreign)
            headers = [
                (k, str(len(body)).encode() if k.lower() == b"content-length" else v)
                for k, v in start["headers"]
            ]
            headers = [(k, v.replace(self.home, self.foreign)) for k, v in headers]
            await send({**start, "headers": headers})
            await send({**message, "body": body})

        return rewritten


class HostileEntra(EntraEmulator):
    rewrite: ForeignNext | None = None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if self.rewrite is not None and scope["type"] == "http":
            send = self.rewrite.wrap(scope, send)
        await super().__call__(scope, receive, send)


class HostileOkta(OktaEmulator):
    rewrite: ForeignNext | None = None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if self.rewrite is not None and scope["type"] == "http":
            send = self.rewrite.wrap(scope, send)
        await super().__call__(scope, receive, send)


def sync(config: Path, *extra: str) -> dict[str, Any]:
    result = CliRunner().invoke(cli.app, ["sync", "idp", "-c", str(config), "--json", *extra])
    assert "Traceback" not in result.output
    run = dict(json.loads(result.output)["idp"])
    assert result.exit_code == {"succeeded": 0, "failed": 1, "partial": 3}[run["status"]]
    return run


def active_users(db: Path) -> set[str]:
    store = Store.open(f"sqlite:///{db}")
    try:
        with store.transaction() as conn:
            state = store.load_directory(conn, "idp")
    finally:
        store.close()
    return {key for key, user in state.users.items() if user.active}


def assert_refused(run: dict[str, Any], evil: Hostile, before: set[str], db: Path) -> None:
    assert run["status"] == "partial" and run["complete"] is False
    assert f"another origin, {evil.origin}" in run["message"]
    assert run["summary"]["users_deactivated"] == 0 and run["summary"]["users_deleted"] == 0
    assert active_users(db) == before  # an incomplete read removes nobody
    assert evil.credentials_seen() == []
    assert evil.requests == []  # not followed at all


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["--full", "--incremental"])
def test_entra_never_follows_a_next_link_to_another_origin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    emu = HostileEntra.generate(users=1100, groups=4, seed=5)
    assert isinstance(emu, HostileEntra)
    monkeypatch.setenv("IDPSYNC_TEST_SECRET", emu.client_secret)
    db, config = tmp_path / "d.db", tmp_path / "idpsync.toml"
    with emu.serve() as running, Hostile() as evil:
        tenant = emu.tenant.tenant_id
        config.write_text(
            f'[store]\nurl = "sqlite:///{db}"\n\n[connectors.idp.source]\ntype = "entra"\n'
            f'tenant = "{tenant}"\nclient_id = "{emu.client_id}"\n'
            'client_secret = "env:IDPSYNC_TEST_SECRET"\n'
            f'base_url = "{running.url}/v1.0"\n'
            f'token_url = "{running.url}/{tenant}/oauth2/v2.0/token"\n\n{LENIENT}'
        )
        first = sync(config, "--full")
        assert first["status"] == "succeeded", first["message"]
        before = active_users(db)
        assert len(before) > 1000
        # A full read's second batch call carries the first users page (and the groups page);
        # its first carries the delta links and the user count.
        path = "/v1.0/$batch" if mode == "--full" else "/v1.0/users/delta"
        if mode == "--incremental":  # a change, so the delta round has a page to poison
            emu.tenant.users[next(iter(emu.tenant.users))].display_name = "Renamed"
        emu.rewrite = ForeignNext(path, running.url, evil.origin, int(mode == "--full"))
        run = sync(config, mode)
        assert emu.rewrite.fired == 1
        assert_refused(run, evil, before, db)


@pytest.mark.slow
def test_okta_never_follows_a_link_header_to_another_origin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = HostileOkta.generate(users=250, groups=4, seed=5)
    assert isinstance(emu, HostileOkta)
    monkeypatch.setenv("IDPSYNC_TEST_TOKEN", emu.api_token)
    db, config = tmp_path / "d.db", tmp_path / "idpsync.toml"
    with emu.serve() as running, Hostile() as evil:
        config.write_text(
            f'[store]\nurl = "sqlite:///{db}"\n\n[connectors.idp.source]\ntype = "okta"\n'
            f'base_url = "{running.url}"\napi_token = "env:IDPSYNC_TEST_TOKEN"\n\n{LENIENT}'
        )
        first = sync(config, "--full")
        assert first["status"] == "succeeded", first["message"]
        before = active_users(db)
        assert len(before) > 200
        emu.rewrite = ForeignNext("/api/v1/users", running.url, evil.origin)
        run = sync(config, "--full")
        assert emu.rewrite.fired == 1
        assert_refused(run, evil, before, db)
