"""The Insights page in Debian's headless Chromium: every chart drawn with
data, a table view opened, and a bar clicked through to its conversations.
A screenshot of the page is saved to tests/screenshots/insights.png."""

import pytest
from django.urls import reverse

from tests.api_support import closed_conversation, open_conversation
from tests.browser import SCREENSHOTS, log_in, needs_chromium

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), needs_chromium]


@pytest.fixture
def month_of_conversations():
    for day in range(1, 29):
        for n in range(day % 4 + 1):
            customer = f"c-{day}-{n}"
            opened = f"2026-02-{day:02d}T{8 + n * 3:02d}:00:00"
            if n == 3:
                open_conversation(customer, opened)
                continue
            closed_conversation(
                customer,
                f"2026-02-{day:02d}T{8 + n * 3:02d}:{10 + day:02d}:00",
                opened_at=opened,
                adviser_id="bot-1" if n == 2 else f"adviser-{day % 2}",
                adviser_is_bot=n == 2,
                closed_type="unsolved" if day % 5 == 0 else "solved",
            )


def test_the_insights_page_draws_every_chart_and_links_to_the_conversations(
    live_server, staff_login, month_of_conversations, browser_page
):
    page = browser_page
    insights = reverse("admin:conversations_conversationmetrics_changelist")
    log_in(page, live_server, staff_login, insights)

    page.click("text=All time")
    page.wait_for_url("**range=all*")
    for chart in ("volume", "first-response", "first-human-response", "time-to-close"):
        assert page.locator(f"#chart-{chart} svg a.bar rect").count() > 0, chart
    assert page.locator("#chart-handling svg a.bar rect").count() == 4  # one per handling
    assert page.locator("#chart-heatmap svg a.bar rect").count() > 0
    assert page.locator("#chart-advisers tbody tr").count() == 4  # two humans, a bot, nobody

    assert page.locator("#chart-volume svg title").first.text_content().startswith("2026-01-26")

    # February, a bar a day.
    page.fill("input[name=since]", "2026-02-01")
    page.fill("input[name=until]", "2026-02-28")
    page.click("#insights button[type=submit]")
    page.wait_for_url("**since=2026-02-01*")
    volume = page.locator("#chart-volume")
    volume.locator("summary").click()
    table = volume.locator("details table")
    table.wait_for()
    assert table.locator("tbody tr").first.inner_text().startswith("2026-02-01")

    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "insights.png"), full_page=True)

    # 1 February: two conversations opened, both closed as solved.
    bar = volume.locator("svg a.bar").filter(
        has=page.locator("title", has_text="2026-02-01: 2 solved")
    )
    bar.click()
    page.wait_for_url("**/conversations/conversation/?*")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 2
    assert all("solved" in rows.nth(i).inner_text() for i in range(2))
    assert "opened_at__gte=2026-02-01" in page.url
