"""Headless Chromium for the page tests: one way to launch it, one place for screenshots."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
"""Debian's Chromium (installed by scripts/services.sh)."""
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
"""Without the background-networking flags Chromium reaches for Google's hosts at every start."""
SHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "service"
"""Where the page tests' screenshots go (look at them before calling a page done)."""


@contextmanager
def launched() -> Iterator[Browser]:
    """A headless Chromium, closed afterwards; fails (never skips) when it is not installed."""
    assert Path(CHROMIUM).exists(), "chromium is missing: run scripts/services.sh"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def shot(page: Page, name: str, folder: Path = SHOTS) -> None:
    """A full-page screenshot ``folder/name.png``."""
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
