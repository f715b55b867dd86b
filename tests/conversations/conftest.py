"""Fixtures of the admin's browser tests (tests/browser.py says why the
database is prepared by fixtures requested before ``browser_page``)."""

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import chromium_page


@pytest.fixture
def browser_page(live_server: Any) -> Iterator[Any]:
    with chromium_page() as page:
        yield page


@pytest.fixture
def staff_login(django_user_model: Any) -> tuple[str, str]:
    django_user_model.objects.create_superuser("staff", "staff@example.com", "correct horse")
    return "staff", "correct horse"
