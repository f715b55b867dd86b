"""The speed paths of the Insights page give what the plain code gives:
``one_scan.rollup_sums`` (one GROUPING SETS query) against the three roll-up
queries, and the page's cached slice URLs against building each in full."""

from datetime import date
from zoneinfo import ZoneInfo

import pytest

from conversations.admin_insights import SliceLinks
from conversations.insights import queries
from conversations.insights.one_scan import rollup_sums
from conversations.models import ConversationMetrics
from tests.api_support import closed_conversation, open_conversation

pytestmark = pytest.mark.django_db


@pytest.fixture
def archive():
    closed_conversation("c1", "2026-03-02T10:05:00", opened_at="2026-03-02T10:00:00")
    closed_conversation("c2", "2026-03-02T23:30:00", opened_at="2026-03-02T23:10:00")
    closed_conversation(
        "c3",
        "2026-03-09T12:30:00",
        opened_at="2026-03-09T12:00:00",
        adviser_id="bot-1",
        adviser_is_bot=True,
        closed_type="unsolved",
    )
    open_conversation("c4", "2026-03-30T22:00:00")


def filters():
    adviser = ConversationMetrics.objects.exclude(assignee_id=None).values_list(
        "assignee_id", flat=True
    )[0]
    for zone in ("UTC", "Europe/Warsaw", "Asia/Kolkata"):
        for period in queries.PERIODS:
            yield queries.InsightsFilter(
                date(2026, 3, 1), date(2026, 3, 31), ZoneInfo(zone), period
            )
        yield queries.InsightsFilter(
            date(2026, 3, 1), date(2026, 3, 31), ZoneInfo(zone), "week", adviser_id=adviser
        )
        yield queries.InsightsFilter(
            date(2026, 3, 1), date(2026, 3, 31), ZoneInfo(zone), "day", handling="bot_only"
        )


def test_one_scan_sums_match_the_plain_queries(archive):
    from conversations.insights.store import refresh_rollups

    refresh_rollups()
    for chosen in filters():
        found = rollup_sums(chosen, solved=queries.SOLVED)
        assert queries.volume(chosen, found["slices"]) == queries.volume(chosen), chosen
        assert queries.totals(chosen, found["slices"]) == queries.totals(chosen), chosen
        assert queries.handling_share(chosen, found["slices"]) == queries.handling_share(chosen)
        assert found["heatmap"] == queries.heatmap(chosen), chosen
        assert queries.advisers(chosen, found["advisers"]) == queries.advisers(chosen), chosen


def test_report_uses_the_one_scan_and_still_gives_every_chart(archive):
    chosen = next(filters())
    report = queries.report(chosen)
    assert report["volume"] == queries.volume(chosen)
    assert report["heatmap"] == queries.heatmap(chosen)
    assert report["advisers"] == queries.advisers(chosen)


def test_cached_slice_urls_match_urls_built_in_full():
    for adviser, handling in ((None, None), (7, None), (None, "human_only"), (7, "bot_only")):
        chosen = queries.InsightsFilter(
            date(2026, 3, 1),
            date(2026, 3, 31),
            ZoneInfo("Europe/Warsaw"),
            "week",
            adviser_id=adviser,
            handling=handling,
        )
        links = SliceLinks(chosen)
        for since, until, extra in (
            (None, None, {}),
            (date(2026, 3, 2), date(2026, 3, 9), {"status": "closed", "closed_type": "a&b"}),
            (date(2026, 3, 2), date(2026, 3, 9), {"status": "open"}),
            (None, None, {"handling": "none"}),
            (None, None, {"adviser": 3}),
            (None, None, {"opened_slot": "1-10-Europe/Warsaw"}),
        ):
            for _ in range(2):  # the second call is served from the cache
                assert links.url(since, until, **extra) == links._url(since, until, **extra)
