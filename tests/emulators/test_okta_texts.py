"""The Okta emulator's users answers joined from each user's text, made once per tenant version
(issue #20: the emulator's own CPU off the users chain): the same bytes as before, and a change
is in the next answer."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from idpsync.emulators.okta import OktaEmulator, render

HEADERS: dict[str, str] = {}


def client(emu: OktaEmulator) -> httpx.AsyncClient:
    HEADERS["Authorization"] = f"SSWS {emu.api_token}"
    return httpx.AsyncClient(transport=emu.transport(), base_url="https://acme.okta.test")


def encoded(items: list[Any]) -> bytes:
    """What ``JSONResponse`` sends for ``items``."""
    return json.dumps(items, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def rendered(emu: OktaEmulator, ids: list[str]) -> bytes:
    base = "https://acme.okta.test"
    users = emu.tenant.users
    return encoded(
        [render.user(emu.tenant, users[u], emu.status_of(u), emu.versions(u)[0], base) for u in ids]
    )


@pytest.mark.asyncio
async def test_users_and_members_pages_are_the_bytes_rendered_whole_and_made_once_a_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emu = OktaEmulator.generate(users=60, groups=4, seed=3, rate_limit=False)
    made: list[str] = []
    user = render.user

    def counted(*args: Any) -> dict[str, Any]:
        made.append(args[1].id)
        return user(*args)

    monkeypatch.setattr(render, "user", counted)
    gid = emu.tenant.group_ids[0]
    async with client(emu) as http:
        for _ in range(2):
            page = await http.get("/api/v1/users", params={"limit": "200"}, headers=HEADERS)
            ids = [u["id"] for u in page.json()]
            members = await http.get(f"/api/v1/groups/{gid}/users", headers=HEADERS)
            member_ids = [u["id"] for u in members.json()]
            assert page.headers["content-type"] == "application/json"
            monkeypatch.setattr(render, "user", user)
            assert page.content == rendered(emu, ids)
            assert members.content == rendered(emu, member_ids)
            monkeypatch.setattr(render, "user", counted)
    assert len(ids) > 40 and member_ids
    assert len(made) == len(set(made))  # each user once for both answers, both times


@pytest.mark.asyncio
async def test_a_change_after_a_page_was_made_is_in_the_next_answer() -> None:
    emu = OktaEmulator.generate(users=30, groups=2, seed=3, rate_limit=False)
    async with client(emu) as http:
        first = (await http.get("/api/v1/users", headers=HEADERS)).json()
        uid = first[0]["id"]
        emu.tenant.update_user(uid, display_name="Renamed Person")
        emu.set_status(first[1]["id"], "LOCKED_OUT")
        again = (await http.get("/api/v1/users", headers=HEADERS)).json()
    assert again[0]["profile"]["displayName"] == "Renamed Person"
    assert again[0]["lastUpdated"] > first[0]["lastUpdated"]
    assert again[1]["status"] == "LOCKED_OUT"
