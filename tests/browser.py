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

CHROMIUM = Path("/usr/bin/chromium")
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
