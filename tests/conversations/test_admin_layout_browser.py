"""The conversation list and page on a laptop screen and on paper, in Debian's
headless Chromium (Playwright), with an archive of awkward text: a
3,000-character word, a long e-mail address, a long URL, a long name.

Each test saves its screenshots to tests/screenshots/ (README, "Admin"), so a
change of layout can be looked at, not only asserted.
"""

import pytest
from django.urls import reverse

from conversations.models import Conversation
from tests.browser import SCREENSHOTS, log_in, needs_chromium
from tests.search_archive import BOB, archive_conversation, archive_jon_snow

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), needs_chromium]

SCREENS = [(1366, 768), (1280, 800)]
LONG_WORD = "Zażółćgęśląjaźń" * 200  # 3,000 characters, no space
LONG_EMAIL = (
    "a.very.long.mailbox.name.that.goes.on.and.on." * 4 + "x@" + "sub." * 20 + "example.com"
)
LONG_URL = "https://shop.example.com/cart?" + "&".join(f"item{n}=sku-{n:05d}" for n in range(120))

# The whole page is no wider than the window, and the results table no wider
# than its box (which would scroll it sideways rather than widen the page).
MEASURE = """() => {
    const doc = document.documentElement;
    const box = document.querySelector(%s);
    const inner = document.querySelector(%s);
    return {
        pageScroll: doc.scrollWidth, pageWidth: doc.clientWidth,
        boxScroll: box.scrollWidth, boxWidth: box.clientWidth,
        innerRight: inner.getBoundingClientRect().right,
        boxRight: box.getBoundingClientRect().right,
    };
}"""


def measure(page, box: str, inner: str) -> dict[str, float]:
    return page.evaluate(MEASURE % (repr(box), repr(inner)))


def assert_fits(sizes: dict[str, float]) -> None:
    assert sizes["pageScroll"] <= sizes["pageWidth"], sizes
    assert sizes["boxScroll"] <= sizes["boxWidth"], sizes
    assert sizes["innerRight"] <= sizes["boxRight"] + 0.5, sizes


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000


@pytest.fixture
def awkward_archive() -> Conversation:
    """An ordinary conversation and four awkward ones; returns the longest."""
    archive_jon_snow()
    archive_conversation("cust-word", [("CUSTOMER", LONG_WORD)], adviser=BOB)
    archive_conversation(
        "cust-email",
        [("CUSTOMER", f"Write to me at {LONG_EMAIL}")],
        first_name="",
        random_name="",
        email=LONG_EMAIL,
    )
    archive_conversation(
        "cust-url",
        [("CUSTOMER", LONG_URL)],
        back_office_data=[{"key": "currentPage", "value": LONG_URL}],
    )
    return archive_conversation(
        "cust-everything",
        [
            ("CUSTOMER", LONG_WORD),
            ("ADVISER", f"See {LONG_URL}"),
            *[("CUSTOMER" if n % 2 else "ADVISER", f"Line {n} of a long talk.") for n in range(40)],
            ("CUSTOMER", "The last line."),
        ],
        adviser={**BOB, "firstName": LONG_WORD[:300]},
        first_name=LONG_WORD,
        email=LONG_EMAIL,
        back_office_data=[{"key": LONG_WORD[:200], "value": LONG_URL}],
    )


@pytest.mark.parametrize(("width", "height"), SCREENS, ids=lambda v: str(v))
def test_the_conversation_list_fits_the_screen_with_long_unbroken_text(
    live_server, staff_login, awkward_archive, browser_page, width, height
):
    page = browser_page
    page.set_viewport_size({"width": width, "height": height})
    changelist = reverse("admin:conversations_conversation_changelist")
    log_in(page, live_server, staff_login, changelist)

    assert page.locator("#result_list tbody tr").count() == 5
    assert page.locator("#nav-sidebar").is_visible()  # beside the navigation and the filters
    assert page.locator("#changelist-filter").is_visible()
    headers = page.locator("#result_list thead th").all_inner_texts()
    assert [h.strip().lower() for h in headers[1:]] == [
        "customer",
        "adviser",
        "opened at",
        "status",
        "messages",
        "first customer message",
    ]
    assert_fits(measure(page, "#changelist-form .results", "#result_list"))
    screenshot(page, f"conversation-list-{width}x{height}.png")


@pytest.mark.parametrize(("width", "height"), SCREENS, ids=lambda v: str(v))
def test_the_conversation_page_fits_the_screen_with_long_unbroken_text(
    live_server, staff_login, awkward_archive, browser_page, width, height
):
    page = browser_page
    page.set_viewport_size({"width": width, "height": height})
    url = reverse("admin:conversations_conversation_change", args=[awkward_archive.pk])
    log_in(page, live_server, staff_login, url)

    assert page.locator("#transcript .message").count() == 43
    screenshot(page, f"conversation-page-{width}x{height}.png")
    assert_fits(measure(page, "#content-main", "#transcript"))
    assert_fits(measure(page, "#content-main", "#visitor-context table"))


def test_printing_a_conversation_shows_the_whole_transcript_without_the_navigation(
    live_server, staff_login, awkward_archive, browser_page
):
    page = browser_page
    page.set_viewport_size({"width": 1366, "height": 768})
    url = reverse("admin:conversations_conversation_change", args=[awkward_archive.pk])
    log_in(page, live_server, staff_login, url)

    page.emulate_media(media="print")
    for chrome in ("#header", "#nav-sidebar", ".breadcrumbs", ".object-tools", "#inbound-events"):
        assert page.locator(chrome).count() == 1, chrome
        assert not page.locator(chrome).is_visible(), chrome
    assert page.locator("#transcript").is_visible()
    messages = page.locator("#transcript .message")
    assert messages.count() == 43
    for n in (0, 42):  # the first and the last line, with their authors and times
        assert messages.nth(n).is_visible()
        assert messages.nth(n).locator(".message-author").is_visible()
        assert messages.nth(n).locator("time").inner_text().endswith(" UTC")
    assert messages.nth(42).locator(".message-text").inner_text() == "The last line."
    # The heading: customer and adviser.
    assert page.locator(".fieldBox.field-customer_link").is_visible()
    assert page.locator(".fieldBox.field-adviser_link").is_visible()
    assert_fits(measure(page, "#content-main", "#transcript"))
    screenshot(page, "conversation-print.png")
    pdf = SCREENSHOTS / "conversation-print.pdf"
    page.pdf(path=str(pdf), format="A4")
    assert pdf.stat().st_size > 10_000
