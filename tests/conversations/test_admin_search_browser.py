"""A transcript search in a real browser at 1366x768 and 1280x800 (Debian's headless
Chromium, Playwright): the list says why each row matched, and the
conversation opened from it shows its hits, the first scrolled into view.

Screenshots go to tests/screenshots/ (not committed), for a reader to see
what the test saw.
"""

from collections.abc import Iterator

import pytest
from django.urls import reverse

from tests.browser import SCREENSHOTS, chromium_page, log_in, needs_chromium
from tests.search_archive import BOB, archive_conversation

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), needs_chromium]

CHANGELIST = reverse("admin:conversations_conversation_changelist")


SCREENS = [(1366, 768), (1280, 800)]


@pytest.fixture(params=SCREENS, ids=lambda size: f"{size[0]}x{size[1]}")
def screen(request, live_server) -> Iterator:
    width, height = request.param
    with chromium_page() as page:
        page.set_viewport_size({"width": width, "height": height})
        yield page, width, height


@pytest.fixture
def long_transcript():
    """The searched word far down a long transcript, beside markup typed as text."""
    small_talk = [
        ("CUSTOMER" if n % 2 == 0 else "ADVISER", f"Message {n} about the weather")
        for n in range(40)
    ]
    archive_conversation(
        "cust-anna",
        [*small_talk, ("CUSTOMER", "I only get <b>spam</b> from your shop"), ("ADVISER", "Sorry")],
        adviser=BOB,
        first_name="Anna",
        last_name="Nowak",
    )
    archive_conversation("cust-other", [("CUSTOMER", "Unrelated question")])


def test_a_transcript_search_shows_why_it_matched_and_the_page_scrolls_to_the_hit(
    live_server, staff_login, long_transcript, screen
):
    page, width, height = screen
    SCREENSHOTS.mkdir(exist_ok=True)
    log_in(page, live_server, staff_login, CHANGELIST)
    page.fill("#searchbar", "spam")
    page.press("#searchbar", "Enter")
    page.wait_for_url("**/?q=spam")

    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    snippet = rows.first.locator("td.field-search_match")
    assert snippet.inner_text() == "I only get <b>spam</b> from your shop"  # markup shown as text
    assert snippet.locator("mark").all_inner_texts() == ["spam"]
    assert snippet.locator("b").count() == 0
    # The "why it matched" column fits too: no horizontal scroll.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=str(SCREENSHOTS / f"search-snippet-{width}.png"))

    rows.first.locator("th a").click()
    hit = page.locator("#first-hit")
    hit.wait_for()
    assert page.locator("#transcript mark").all_inner_texts() == ["spam"]
    assert hit.locator("mark").inner_text() == "spam"
    # The script brought the hit, forty messages down, into the window.
    page.wait_for_function("window.scrollY > 0")
    box = hit.bounding_box()
    assert box is not None
    assert box["y"] >= 0
    assert box["y"] + box["height"] <= height
    page.screenshot(path=str(SCREENSHOTS / f"transcript-hit-{width}.png"))
