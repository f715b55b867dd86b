"""The Insights page in the admin: guarded, linked from the index, every
chart with a table and a CSV, and links that open the matching conversations."""

import re
from html import unescape

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from tests.api_support import closed_conversation, open_conversation

pytestmark = pytest.mark.django_db

PAGE = reverse("admin:conversations_conversationmetrics_changelist")
RANGE = {"since": "2026-03-01", "until": "2026-03-31"}


@pytest.fixture
def archive():
    closed_conversation("c1", "2026-03-02T10:05:00", opened_at="2026-03-02T10:00:00")
    closed_conversation("c2", "2026-03-02T11:05:00", opened_at="2026-03-02T11:00:00")
    closed_conversation(
        "c3",
        "2026-03-03T12:30:00",
        opened_at="2026-03-03T12:00:00",
        adviser_id="bot-1",
        adviser_is_bot=True,
        closed_type="unsolved",
    )
    open_conversation("c4", "2026-03-04T09:00:00")


def staff_with(*codenames):
    user = User.objects.create_user(username="lead", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def test_the_page_needs_the_insights_permission(client):
    client.force_login(staff_with("view_conversation"))
    assert client.get(PAGE).status_code == 403
    assert PAGE not in client.get(reverse("admin:index")).content.decode()


def test_the_admin_index_links_the_page(client):
    client.force_login(staff_with("view_insights", "view_conversation"))
    index = client.get(reverse("admin:index")).content.decode()
    assert PAGE in index and "Insights" in index


def test_every_chart_is_drawn_with_a_table_and_a_csv(admin_client, archive):
    page = admin_client.get(PAGE, RANGE)
    assert page.status_code == 200
    html = page.content.decode()
    for chart in ("volume", "first-response", "first-human-response", "time-to-close"):
        assert f'id="chart-{chart}"' in html
    for chart in ("handling", "heatmap", "advisers"):
        assert f'id="chart-{chart}"' in html
    assert html.count('<svg class="insights-chart"') == 6
    assert html.count("<summary>Table</summary>") == 6

    csv = admin_client.get(PAGE, {**RANGE, "csv": "volume"})
    assert csv["Content-Type"].startswith("text/csv")
    assert csv.content.decode().splitlines() == [
        "day,solved,unsolved,open,total",
        "2026-03-02,2,0,0,2",
        "2026-03-03,0,1,0,1",
        "2026-03-04,0,0,1,1",
    ]


def test_the_default_range_is_the_last_90_days(admin_client):
    page = admin_client.get(PAGE)
    chosen = page.context["chosen"]
    assert (chosen.until - chosen.since).days == 89


def test_a_bad_filter_is_a_400_that_names_it(admin_client):
    page = admin_client.get(PAGE, {"tz": "Nowhere/Land"})
    assert page.status_code == 400
    assert "tz:" in page.content.decode()


def bar_links(html):
    return [unescape(url) for url in re.findall(r'<a href="([^"]+)" class="bar">', html)]


def test_each_bar_opens_the_conversations_it_counts(admin_client, archive):
    html = admin_client.get(PAGE, RANGE).content.decode()
    links = bar_links(html)
    changelist = reverse("admin:conversations_conversation_changelist")
    assert links and all(link.startswith(changelist) for link in links)
    for link in links:
        listed = admin_client.get(link)
        assert listed.status_code == 200, link
        assert "?e=1" not in listed.get("Location", "")
        counted = re.search(r"<title>[^<]*?: (\d+)", html[html.index(link.replace("&", "&amp;")) :])
        if counted:  # the bar's own count (duration bars show times instead)
            assert listed.context["cl"].result_count == int(counted.group(1)), link


def test_a_day_s_bar_lists_that_day_s_conversations_of_that_closing_type(admin_client, archive):
    html = admin_client.get(PAGE, RANGE).content.decode()
    [link] = [link for link in bar_links(html) if "closed_type=unsolved" in link]
    listed = admin_client.get(link).context["cl"].result_list
    assert [c.customer.closer_id for c in listed] == ["c3"]
