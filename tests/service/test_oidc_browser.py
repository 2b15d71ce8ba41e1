"""Sign-in through the IdP in headless Chromium: the Keycloak emulator on a real port.

Screenshots (1366×900 and 390×844) go to ``test-artifacts/service/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from idpsync.store import Store
from tests.browser import SHOTS, launched
from tests.service.oidc_support import emulator, oidc_block
from tests.service.support import harness, serve_in_thread

pytestmark = pytest.mark.slow

SIZES = {"wide": (1366, 900), "phone": (390, 844)}
HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture
def page() -> Iterator[Page]:
    with launched() as browser:
        yield browser.new_page()


def shots(page: Page, name: str) -> None:
    """The page at both sizes (the wide one last, as the test goes on with it)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for size in ("phone", "wide"):
        width, height = SIZES[size]
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SHOTS / f"oidc-{name}-{size}.png"), full_page=True)


def test_sign_in_with_keycloak_reaches_the_dashboard(tmp_path: Path, page: Page) -> None:
    emu = emulator()
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    with emu.serve() as idp:
        h = harness(tmp_path, store, extra=oidc_block(tmp_path, issuer=f"{idp.url}/realms/acme"))
        server, url = serve_in_thread(h.app)
        try:
            emu.oidc.sign_in_as("u-ada")
            page.goto(f"{url}/")
            expect(page.locator("#oidc-login")).to_have_text("Sign in with Keycloak")
            expect(page.locator("#password")).to_be_visible()  # the break-glass account
            shots(page, "01-login")
            page.click("#oidc-login")
            expect(page.locator("h1")).to_have_text("Connectors")
            expect(page.locator("header")).to_contain_text("Log out ada.admin")
            shots(page, "02-dashboard")
            assert emu.requests.count("/realms/{realm}/protocol/openid-connect/auth") == 1

            page.click("header button")  # log out
            expect(page.locator("h1")).to_have_text("Log in")
            emu.oidc.sign_in_as("u-nobody")
            emu.oidc.claim_overrides = {"preferred_username": HOSTILE}
            page.click("#oidc-login")
            message = page.locator("#error-message")
            expect(page.locator("h1")).to_have_text("Sign-in refused")
            expect(message).to_contain_text(f"you are signed in at the provider as {HOSTILE}")
            shots(page, "03-refused")
            page.click("#error-back")
            expect(page.locator("h1")).to_have_text("Log in")
            assert page.url.endswith("/login")
        finally:
            server.stop()
            store.close()
    assert dialogs == []
