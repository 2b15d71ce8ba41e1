"""Answers of the wrong shape: an incomplete listing naming the endpoint, or a skipped record."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from idpsync.config_policy import PolicySettings
from idpsync.emulators.entra import EntraEmulator
from idpsync.emulators.onelogin import OneLoginEmulator
from idpsync.model import Snapshot
from idpsync.sources.entra import http_client as client
from idpsync.sources.entra.reader import EntraSource
from idpsync.store import Store
from tests.sources import okta_support, onelogin_support
from tests.sources.entra_support import EntraWorld, source_settings

Change = Callable[[Any], Any]


pytestmark = pytest.mark.usefixtures("no_sleep")


class Rewrite(httpx.AsyncBaseTransport):
    """Forwards to an emulator; answers to ``path`` get their body changed (or cut in half)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, path: str, change: Change | None) -> None:
        self.inner, self.path, self.change = inner, path, change

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        batch = request.url.path.endswith("/$batch") and self.change is not None
        if request.url.path != self.path and not batch:
            return response
        await response.aread()
        raw = response.content
        if batch:
            body = self._items(request, json.loads(raw))
        elif self.change is None:
            body = raw[: len(raw) // 2]
        else:
            body = json.dumps(self.change(json.loads(raw))).encode()
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return httpx.Response(response.status_code, headers=headers, content=body, request=request)

    def _items(self, request: httpx.Request, answer: dict[str, Any]) -> bytes:
        """A batch answer whose items for ``path`` are changed (as if each were a response)."""
        assert self.change is not None
        version = request.url.path.rsplit("/", 2)[-2]
        urls = {r["id"]: r["url"] for r in json.loads(request.content)["requests"]}
        for item in answer["responses"]:
            if f"/{version}{urlsplit(urls[item['id']]).path}" == self.path:
                item["body"] = self.change(item["body"])
        return json.dumps(answer).encode()


def first_item(change: Callable[[dict[str, Any]], None], key: str = "value") -> Change:
    def apply(body: Any) -> Any:
        items = body[key] if key else body
        change(items[0])
        return body

    return apply


async def entra_read(path: str, change: Change) -> Snapshot:
    emu = EntraEmulator.generate(users=12, groups=3, seed=2)
    transport = Rewrite(emu.transport(), path, change)
    settings = source_settings(emu)
    source = EntraSource(settings, client(settings, transport=transport), policy=PolicySettings())
    try:
        return await source.snapshot()
    finally:
        await source.aclose()


@pytest.mark.parametrize(
    ("path", "change", "reason"),
    [
        ("/v1.0/groups", lambda b: {**b, "value": {}}, "'value' is an object, expected a list"),
        ("/v1.0/users", lambda b: b["value"], "the answer is a list, expected a JSON object"),
        (
            "/v1.0/users",
            first_item(lambda u: u.pop("id")),
            "1 item(s) are not objects with a usable id",
        ),
        (
            "/v1.0/users",
            first_item(lambda u: u.update(id={"x": 1})),
            "1 item(s) are not objects with a usable id",
        ),
    ],
    ids=["value-object", "bare-array", "no-id", "id-object"],
)
async def test_entra_page_shapes_make_the_read_incomplete(
    path: str, change: Change, reason: str
) -> None:
    snap = await entra_read(path, change)
    assert not snap.complete
    assert any(r.startswith("GET /") and reason in r for r in snap.incomplete_reasons), (
        snap.incomplete_reasons
    )


async def test_entra_display_name_as_list_skips_only_that_user() -> None:
    snap = await entra_read("/v1.0/users", first_item(lambda u: u.update(displayName=["A"])))
    assert snap.complete, snap.incomplete_reasons
    assert len(snap.users) == 11
    [bad] = snap.skipped
    assert bad.kind == "user"
    assert bad.reason == "GET /users: 'displayName' is a list, expected text"


async def test_okta_items_without_id_or_not_objects() -> None:
    emu = okta_support.emulator(users=10, groups=2, seed=1)

    def damage(body: Any) -> Any:
        if len(body) >= 2:  # the active users' page, not the (empty) deprovisioned one
            body[0].pop("id")
            body[1] = "not an object"
        return body

    source = okta_support.source(emu, transport=Rewrite(emu.transport(), "/api/v1/users", damage))
    try:
        snap = await source.snapshot()
    finally:
        await source.aclose()
    assert not snap.complete
    assert "GET /api/v1/users: 2 item(s) are not objects with a usable id" in " ".join(
        snap.incomplete_reasons
    )
    assert source.saved_state is None  # an incomplete read keeps the old marks


async def test_onelogin_truncated_json_is_an_incomplete_listing() -> None:
    emu = OneLoginEmulator.generate(users=8, groups=2, roles=2, seed=1)
    cfg = onelogin_support.connector(emu)
    transport = Rewrite(emu.transport(), "/api/2/users", None)
    source = onelogin_support.source(emu, cfg, transport)
    try:
        snap = await source.snapshot()
    finally:
        await source.aclose()
    assert not snap.complete
    assert any("not JSON (cut off?)" in r for r in snap.incomplete_reasons)


async def test_a_skipped_user_is_reported_and_kept_in_the_directory(store: Store) -> None:
    world = EntraWorld(EntraEmulator.generate(users=12, groups=3, seed=2), store)
    assert (await world.sync()).status == "succeeded"
    target = world.emu.tenant.users[world.emu.tenant.user_ids[0]]

    def bad_name(body: Any) -> Any:
        for user in body["value"]:
            if user["id"] == target.id:
                user["displayName"] = ["not", "text"]
                user["userPrincipalName"] = "renamed@example.org"
        return body

    world.transport = Rewrite(world.emu.transport(), "/v1.0/users", bad_name)
    result = await world.sync(mode="full")
    assert result.status == "succeeded", result.message
    [skipped] = result.details["skipped"]
    assert skipped["source_id"] == target.id
    assert skipped["reason"] == "GET /users: 'displayName' is a list, expected text"
    assert result.summary()["users_deactivated"] == 0
    with store.transaction() as conn:
        kept = store.load_directory(conn, world.name).users[target.id]
    assert kept.active and kept.login != "renamed@example.org"
