"""The web check page lists the connector's allow-list, as ``idpsync endpoints`` does."""

from __future__ import annotations

import html
from pathlib import Path

import pytest

from idpsync.store import Store
from tests.service.support import harness, login

OKTA = """
[connectors.okta.source]
type = "okta"
base_url = "https://acme.okta.com"
api_token = "env:IDPSYNC_TEST_OKTA_TOKEN"
[connectors.okta.source.http]
proxy = "http://proxy.corp.example:3128"
"""


async def test_the_check_page_shows_the_allow_list(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDPSYNC_TEST_OKTA_TOKEN", "okta-test-token-value")
    h = harness(tmp_path, store, extra=OKTA)
    async with h.client() as web:
        await login(web)
        page = await web.get("/connectors/okta/check")
        assert page.status_code == 200, page.text
        text = html.unescape(page.text)
        assert '<td class="url">https://acme.okta.com/api/v1/groups/{id}/users</td>' in text
        assert (
            "<li>proxy.corp.example:3128 (the HTTP proxy; it must allow CONNECT to "
            "acme.okta.com:443)</li>"
        ) in text
        file_page = html.unescape((await web.get("/connectors/hr/check")).text)
        assert "hr: source type 'file' reads the local file" in file_page
        assert "okta-test-token-value" not in text
