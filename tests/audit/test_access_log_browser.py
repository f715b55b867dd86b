"""In a real browser (Debian's headless Chromium): a member of staff reads a
transcript, and the access log shows who read it. The database is prepared
before ``browser_page`` opens (tests/browser.py says why)."""

from collections.abc import Iterator

import pytest
from django.urls import reverse

from tests.browser import chromium_page, needs_chromium
from tests.search_archive import BOB, archive_conversation

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), needs_chromium]


@pytest.fixture
def conversation_id() -> int:
    conversation = archive_conversation("cust-read", [("CUSTOMER", "Gdzie paczka?")], adviser=BOB)
    return conversation.pk


@pytest.fixture
def staff_login(django_user_model):
    django_user_model.objects.create_superuser("auditor", "auditor@example.com", "correct horse")
    return "auditor", "correct horse"


@pytest.fixture
def browser_page(live_server, conversation_id, staff_login) -> Iterator:
    with chromium_page() as page:
        yield page


def test_the_access_log_shows_who_read_a_conversation(
    live_server, conversation_id, staff_login, browser_page
):
    page = browser_page
    transcript = reverse("admin:conversations_conversation_change", args=[conversation_id])
    page.goto(f"{live_server.url}{reverse('admin:login')}?next={transcript}")
    page.fill("#id_username", staff_login[0])
    page.fill("#id_password", staff_login[1])
    page.click("input[type=submit]")
    page.get_by_text("Gdzie paczka?").wait_for()

    page.goto(f"{live_server.url}{reverse('admin:audit_accessrecord_changelist')}")
    page.fill("#searchbar", str(conversation_id))
    page.press("#searchbar", "Enter")

    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    row = rows.first.inner_text()
    assert "auditor" in row
    assert "Conversation viewed in the admin" in row
    assert "127.0.0.1" in row
    assert "Gdzie paczka" not in page.content()
