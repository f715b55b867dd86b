"""/api/v1/insights/: the Insights numbers as JSON, their filters and their guard."""

import pytest
from django.contrib.auth.models import Permission, User

from tests.api_support import closed_conversation, token_client

pytestmark = pytest.mark.django_db

URL = "/api/v1/insights/"


@pytest.fixture
def analyst() -> User:
    user = User.objects.create_user(username="analyst")
    user.user_permissions.add(Permission.objects.get(codename="view_insights"))
    return user


@pytest.fixture
def archive() -> None:
    closed_conversation("c1", "2026-03-02T10:05:00", opened_at="2026-03-02T10:00:00")
    closed_conversation(
        "c2",
        "2026-03-03T23:30:00",
        opened_at="2026-03-03T23:00:00",
        adviser_id="bot-1",
        adviser_is_bot=True,
        closed_type="unsolved",
    )


def test_reading_insights_needs_the_insights_permission():
    reader = User.objects.create_user(username="reader")
    assert token_client(reader).get(URL).status_code == 403


def test_the_whole_report_for_a_range(analyst, archive):
    response = token_client(analyst).get(URL, {"since": "2026-03-01", "until": "2026-03-31"})
    assert response.status_code == 200
    body = response.json()
    assert body["filter"]["period"] == "day"
    assert body["totals"]["conversations"] == 2
    assert {(row["period"], row["closed_type"]) for row in body["volume"]} == {
        ("2026-03-02", "solved"),
        ("2026-03-03", "unsolved"),
    }
    assert {row["handling"]: row["conversations"] for row in body["handling"]} == {
        "bot_only": 1,
        "bot_then_human": 0,
        "human_only": 1,
        "none": 0,
    }
    [human, bot] = body["advisers"]
    assert (human["is_bot"], human["solved_share"], bot["is_bot"]) == (False, 1.0, True)


def test_days_and_hours_are_those_of_the_chosen_time_zone(analyst, archive):
    # 23:00 UTC on 3 March is midnight on 4 March in Warsaw (a Wednesday).
    response = token_client(analyst).get(
        "/api/v1/insights/heatmap/",
        {"since": "2026-03-01", "until": "2026-03-31", "tz": "Europe/Warsaw"},
    )
    assert {(c["weekday"], c["hour"]) for c in response.json()["heatmap"]} == {(1, 11), (3, 0)}


def test_the_adviser_filter_narrows_every_chart(analyst, archive):
    from conversations.models import Adviser

    bot = Adviser.objects.get(closer_id="bot-1")
    body = token_client(analyst).get(URL, {"range": "all", "adviser": bot.pk}).json()
    assert body["totals"]["conversations"] == 1
    assert [row["adviser_id"] for row in body["advisers"]] == [bot.pk]


def test_durations_are_medians_and_p90_in_seconds(analyst, archive):
    body = (
        token_client(analyst)
        .get("/api/v1/insights/durations/", {"since": "2026-03-02", "until": "2026-03-02"})
        .json()
    )
    [day] = body["durations"]
    assert day["time_to_close_seconds_median"] == 300.0
    assert day["first_response_seconds_median"] == 1.0


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-03-10", "until": "2026-03-01"}, "since"),
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"adviser": "bob"}, "adviser"),
        ({"handling": "robots"}, "handling"),
        ({"period": "fortnight"}, "period"),
        ({"until": "9999-12-31"}, "until"),
    ],
)
def test_a_bad_filter_is_a_400_naming_the_parameter(analyst, params, parameter):
    response = token_client(analyst).get(URL, params)
    assert response.status_code == 400
    assert list(response.json()) == [parameter]
