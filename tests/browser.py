"""Debian's headless Chromium, driven by Playwright's sync API (never
`playwright install`, which downloads a browser build of its own).

Playwright runs an event loop in the calling thread while the browser is
open, and Django refuses database calls there: prepare the database before
opening a page.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

CHROMIUM = Path("/usr/bin/chromium")
# Kept for people to look at (gitignored), never compared.
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run installs it)"
)


@contextmanager
def chromium_page() -> Iterator[Any]:
    """A page of a fresh headless Chromium, 1280x900, light colour scheme."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, color_scheme="light")
        page.set_default_timeout(15_000)
        try:
            yield page
        finally:
            browser.close()


def log_in(page: Any, live_server: Any, credentials: tuple[str, str], next_url: str) -> None:
    """Through the admin's login form, then on to ``next_url``."""
    page.goto(f"{live_server.url}{reverse('admin:login')}?next={next_url}")
    page.fill("#id_username", credentials[0])
    page.fill("#id_password", credentials[1])
    page.click("input[type=submit]")
    page.wait_for_url(f"**{next_url}")
