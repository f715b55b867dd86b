"""Each Insights metric's definition, on hand-built conversations applied
through the normaliser (conversations.insights.metrics)."""

from datetime import UTC, datetime, timedelta

import pytest

from conversations.insights.metrics import ConversationFacts, time_to_close_ms
from conversations.models import Conversation, ConversationMetrics, InsightsHour
from conversations.services import IncomingEvent, apply_events
from tests.builders import closed_event, created_event, message

pytestmark = pytest.mark.django_db

T = 1_700_000_000_000  # a created event's time
MINUTE = 60_000


def apply(*payloads):
    apply_events([IncomingEvent(payload) for payload in payloads])


def bot_closed(customer_id, timestamp, messages, *, adviser_id="bot-1", **details):
    event = closed_event(customer_id, timestamp, messages, adviser_id=adviser_id, **details)
    event["assignee"]["isBot"] = True
    return event


def metrics_of(customer_id="c1"):
    [conversation] = Conversation.objects.filter(customer__closer_id=customer_id)
    return ConversationMetrics.objects.get(conversation=conversation)


def test_first_response_runs_from_the_first_customer_message_to_the_next_adviser_message():
    apply(
        created_event("c1", T),
        closed_event(
            "c1",
            T + 30 * MINUTE,
            [
                message("ADVISER", "Welcome!", T + 1 * MINUTE, "adviser-1"),  # before: no answer
                message("CUSTOMER", "Hello", T + 2 * MINUTE, "c1"),
                message("CUSTOMER", "Anyone?", T + 3 * MINUTE, "c1"),
                message("ADVISER", "Hi", T + 7 * MINUTE, "adviser-1"),
            ],
        ),
    )
    metrics = metrics_of()
    assert metrics.first_customer_message_at == Conversation.objects.get().opened_at + timedelta(
        minutes=2
    )
    assert metrics.first_response_ms == 5 * MINUTE
    assert metrics.first_human_response_ms == 5 * MINUTE


def test_a_bot_answer_is_a_first_response_but_not_a_first_human_response():
    apply(closed_event("c1", T, [], adviser_id="human-1"))  # human-1 is known as a human
    apply(
        created_event("c2", T),
        bot_closed(
            "c2",
            T + 30 * MINUTE,
            [
                message("CUSTOMER", "Hello", T + 1 * MINUTE, "c2"),
                message("ADVISER", "I am a bot", T + 2 * MINUTE, "bot-1"),
                message("ADVISER", "A human here", T + 10 * MINUTE, "human-1"),
            ],
        ),
    )
    metrics = metrics_of("c2")
    assert metrics.first_response_ms == 1 * MINUTE
    # The clock starts at the customer's message, not at the hand-over.
    assert metrics.first_human_response_ms == 9 * MINUTE
    assert (metrics.handling, metrics.bot_messages, metrics.adviser_messages) == (
        "bot_then_human",
        1,
        2,
    )


@pytest.mark.parametrize(
    ("authors", "expected"),
    [
        (["bot-1"], "bot_only"),
        (["bot-1", "human-1"], "bot_then_human"),
        (["human-1"], "human_only"),
        ([], "none"),
    ],
)
def test_handling_follows_who_wrote_the_adviser_messages(authors, expected):
    apply(closed_event("c0", T, [], adviser_id="human-1"))
    history = [message("CUSTOMER", "Hello", T + 1000, "c1")] + [
        message("ADVISER", f"line {i}", T + 2000 + i, author) for i, author in enumerate(authors)
    ]
    apply(created_event("c1", T), bot_closed("c1", T + MINUTE, history))
    assert metrics_of().handling == expected


def test_no_customer_message_means_no_first_response():
    apply(
        created_event("c1", T),
        closed_event("c1", T + MINUTE, [message("ADVISER", "Hi", T + 1000, "adviser-1")]),
    )
    metrics = metrics_of()
    assert metrics.first_customer_message_at is None
    assert (metrics.first_response_ms, metrics.first_human_response_ms) == (None, None)
    assert metrics.handling == "human_only"


def test_no_answer_means_no_first_response_but_a_time_to_close():
    apply(
        created_event("c1", T),
        closed_event("c1", T + 5 * MINUTE, [message("CUSTOMER", "Hello?", T + 1000, "c1")]),
    )
    metrics = metrics_of()
    assert metrics.first_response_ms is None
    assert metrics.time_to_close_ms == 5 * MINUTE
    assert (metrics.handling, metrics.customer_messages) == ("none", 1)


@pytest.mark.parametrize(
    ("microseconds", "milliseconds"), [(1499, 1), (1500, 2), (2500, 3), (-1500, -2)]
)
def test_durations_round_to_the_nearest_millisecond_half_away_from_zero(microseconds, milliseconds):
    opened = datetime(2026, 3, 1, tzinfo=UTC)
    closed = opened + timedelta(microseconds=microseconds)
    assert time_to_close_ms(ConversationFacts(opened, closed, None)) == milliseconds


def test_an_open_conversation_has_no_time_to_close_and_no_messages():
    apply(created_event("c1", T))
    metrics = metrics_of()
    assert (metrics.status, metrics.time_to_close_ms, metrics.handling) == ("open", None, "none")
    assert metrics.customer_messages == metrics.adviser_messages == 0


def test_without_its_created_event_a_conversation_is_timed_from_its_first_message():
    apply(
        closed_event(
            "c1",
            T + 10 * MINUTE,
            [
                message("CUSTOMER", "Hello", T + 2 * MINUTE, "c1"),
                message("ADVISER", "Hi", T + 3 * MINUTE, "adviser-1"),
            ],
        )
    )
    assert metrics_of().time_to_close_ms == 8 * MINUTE


def test_history_older_than_the_created_event_is_left_out():
    apply(
        created_event("c1", T),
        closed_event(
            "c1",
            T + 10 * MINUTE,
            [
                message("CUSTOMER", "Last week's question", T - 9 * MINUTE, "c1"),
                message("ADVISER", "Last week's answer", T - 8 * MINUTE, "adviser-1"),
                message("CUSTOMER", "Today's question", T + 1 * MINUTE, "c1"),
                message("ADVISER", "Today's answer", T + 4 * MINUTE, "adviser-1"),
            ],
        ),
    )
    metrics = metrics_of()
    assert metrics.first_response_ms == 3 * MINUTE
    assert (metrics.customer_messages, metrics.adviser_messages) == (1, 1)


def test_a_conversation_re_paired_by_a_late_created_event_is_measured_again():
    history = [
        message("CUSTOMER", "Hello", T + 2 * MINUTE, "c1"),
        message("ADVISER", "Hi", T + 3 * MINUTE, "adviser-1"),
    ]
    apply(closed_event("c1", T + 10 * MINUTE, history))
    assert metrics_of().time_to_close_ms == 8 * MINUTE

    apply(created_event("c1", T))  # late: the conversation now opens at T

    metrics = metrics_of()
    assert metrics.time_to_close_ms == 10 * MINUTE
    assert metrics.opened_at == Conversation.objects.get().opened_at


def test_message_counts_by_role_and_the_assignee_s_messages():
    apply(
        created_event("c1", T),
        closed_event(
            "c1",
            T + 10 * MINUTE,
            [
                message("CUSTOMER", "a", T + 1000, "c1"),
                message("ADVISER", "b", T + 2000, "adviser-1"),
                message("ADVISER", "c", T + 3000, "adviser-2"),
                message("SYSTEM", "d", T + 4000, ""),
                message("CUSTOMER", "e", T + 5000, "c1"),
            ],
        ),
    )
    metrics = metrics_of()
    assert (
        metrics.customer_messages,
        metrics.adviser_messages,
        metrics.other_messages,
        metrics.assignee_messages,
    ) == (2, 2, 1, 1)


def test_a_redelivered_closed_event_changes_no_metric():
    event = closed_event("c1", T + MINUTE)
    apply(created_event("c1", T), event)
    before = ConversationMetrics.objects.values().get()
    apply(event)
    assert ConversationMetrics.objects.values().get() == before


def test_rollups_count_each_hour_once_refreshed():
    from conversations.insights.store import refresh_rollups

    apply(created_event("c1", T), closed_event("c1", T + MINUTE), created_event("c2", T + 1000))
    refresh_rollups()
    assert sum(InsightsHour.objects.values_list("conversations", flat=True)) == 2
    assert refresh_rollups() == 0  # nothing pending any more


def test_refresh_insights_all_recomputes_metrics_and_rollups_from_the_messages():
    from django.core.management import call_command

    apply(created_event("c1", T), closed_event("c1", T + MINUTE))
    expected = ConversationMetrics.objects.values().get()
    ConversationMetrics.objects.update(first_response_ms=1, handling="bot_only")
    InsightsHour.objects.all().delete()

    call_command("refresh_insights", "--all", stdout=open("/dev/null", "w"))  # noqa: SIM115

    assert ConversationMetrics.objects.values().get() == expected
    assert InsightsHour.objects.get().handling == "human_only"


def test_rebuilding_everything_reports_each_committed_batch():
    from conversations.insights.store import rebuild_all

    apply(*(created_event(f"c{n}", T + n * MINUTE) for n in range(5)))
    batches = []

    assert rebuild_all(batch=2, progress=batches.append) == 5
    assert batches == [2, 2, 1]


def test_the_beat_task_refreshes_pending_hours():
    from django.conf import settings

    from closerarchive.celery import app
    from conversations.tasks import refresh_insights

    entry = settings.CELERY_BEAT_SCHEDULE["refresh-insights"]
    assert app.tasks[entry["task"]].name == refresh_insights.name
    apply(created_event("c1", T))
    assert refresh_insights.apply().get() == 1
    assert InsightsHour.objects.get().conversations == 1


def test_the_data_migration_fills_an_existing_archive_with_its_historical_models():
    import importlib

    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    apply(created_event("c1", T), closed_event("c1", T + MINUTE), created_event("c2", T))
    expected = list(ConversationMetrics.objects.order_by("pk").values())
    ConversationMetrics.objects.all().delete()
    InsightsHour.objects.all().delete()
    state = MigrationLoader(connection).project_state(("conversations", "0009_insights_fill"))
    fill = importlib.import_module("conversations.migrations.0009_insights_fill").fill

    fill(state.apps, None)

    assert list(ConversationMetrics.objects.order_by("pk").values()) == expected
    assert sum(InsightsHour.objects.values_list("conversations", flat=True)) == 2
