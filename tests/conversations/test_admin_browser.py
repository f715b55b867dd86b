"""Staff in a real browser: Debian's headless Chromium driven by Playwright.

The database is prepared by fixtures requested before ``browser_page``
(tests/browser.py says why).
"""

import pytest
from django.urls import reverse

from tests.browser import log_in, needs_chromium
from tests.search_archive import BOB, ZOFIA, archive_conversation

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), needs_chromium]


@pytest.fixture
def nowak_archive():
    archive_conversation(
        "cust-browser",
        [
            ("CUSTOMER", "Dzień dobry, gdzie jest moja paczka? <b>pilne</b>"),
            ("ADVISER", "Paczka wyjechała dziś rano."),
        ],
        adviser=BOB,
        first_name="Anna",
        last_name="Nowak",
        email="anna.nowak@example.pl",
    )
    archive_conversation("cust-other", [("CUSTOMER", "Unrelated")], email="other@example.com")


def test_staff_find_a_customer_by_email_and_read_the_transcript(
    live_server, staff_login, nowak_archive, browser_page, tmp_path
):
    page = browser_page

    log_in(page, live_server, staff_login, reverse("admin:conversations_conversation_changelist"))
    page.fill("#searchbar", "anna.nowak@")
    page.press("#searchbar", "Enter")
    page.wait_for_url("**/?q=anna.nowak%40")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert "Anna Nowak" in rows.first.inner_text()

    rows.first.locator("th a").click()
    transcript = page.locator("#transcript")
    transcript.wait_for()
    customer_line = transcript.locator(".message-customer .message-text")
    assert customer_line.inner_text() == "Dzień dobry, gdzie jest moja paczka? <b>pilne</b>"
    assert transcript.locator(".message-adviser .message-author").inner_text() == "Bob Holmes"
    customer_box = transcript.locator(".message-customer").bounding_box()
    adviser_box = transcript.locator(".message-adviser").bounding_box()
    assert customer_box["x"] < adviser_box["x"]  # customer left, adviser right

    screenshot = tmp_path / "transcript.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000


@pytest.fixture
def zofia_adviser_id():
    archive_conversation("cust-a", [("CUSTOMER", "First")], adviser=BOB)
    return archive_conversation("cust-b", [("CUSTOMER", "Second")], adviser=ZOFIA).assignee_id


def test_staff_choose_an_adviser_in_the_filter_by_typing(
    live_server, staff_login, zofia_adviser_id, browser_page
):
    page = browser_page

    log_in(page, live_server, staff_login, reverse("admin:conversations_conversation_changelist"))
    page.locator("details[data-filter-title=adviser] .select2-selection").click()
    page.keyboard.type("wasow")
    page.locator(".select2-results__option", has_text="Zofia Wąsowska").click()
    page.wait_for_url(f"**/?adviser={zofia_adviser_id}")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert "Second" in rows.first.inner_text()
