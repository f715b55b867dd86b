"""The metrics step's PostgreSQL read and write (``insights.batch_io``) give
what the plain ORM path of ``store.write_metrics`` gives."""

import pytest
from django.db import connection

from conversations.insights import batch_io, store
from conversations.models import Conversation, ConversationMetrics, InsightsPendingHour
from conversations.services import IncomingEvent, apply_events
from tests.builders import closed_event, created_event, message

pytestmark = pytest.mark.django_db

T = 1_700_000_000_000
MINUTE = 60_000


@pytest.fixture
def archive():
    """Conversations of every shape the metrics tell apart."""
    bot_closed = closed_event(
        "c2",
        T + 20 * MINUTE,
        [
            message("CUSTOMER", "Hello", T + 1 * MINUTE, "c2"),
            message("ADVISER", "I am a bot", T + 2 * MINUTE, "bot-1"),
            message("ADVISER", "A human here", T + 5 * MINUTE, "human-1"),
            # Two lines of the same time: the id order breaks the tie.
            message("CUSTOMER", "Thanks", T + 6 * MINUTE, "c2"),
            message("SYSTEM", "Closed", T + 6 * MINUTE, ""),
        ],
        adviser_id="bot-1",
    )
    bot_closed["assignee"]["isBot"] = True
    events = [
        closed_event("c0", T, [], adviser_id="human-1"),  # human-1 known as a human
        created_event("c1", T),
        closed_event(
            "c1",
            T + 10 * MINUTE,
            [
                message("CUSTOMER", "Older history", T - 5 * MINUTE, "c1"),
                message("CUSTOMER", "Hi", T + 1 * MINUTE, "c1"),
                message("ADVISER", "Answer", T + 3 * MINUTE, "never-assigned"),
            ],
            adviser_id="human-1",
        ),
        bot_closed,
        created_event("c3", T + 30 * MINUTE),  # still open: no messages
    ]
    apply_events([IncomingEvent(event) for event in events])
    return sorted(Conversation.objects.values_list("pk", flat=True))


def stored_state():
    fields = [field.attname for field in ConversationMetrics._meta.concrete_fields]
    return (
        list(ConversationMetrics.objects.order_by("pk").values_list(*fields)),
        sorted(InsightsPendingHour.objects.values_list("hour", flat=True)),
    )


def test_the_read_gives_the_plain_read_s_rows_messages_and_bots(archive):
    rows, messages, bots = batch_io.read_facts(archive)
    plain_rows, plain_messages, plain_bots = store._read_facts(archive, store.ARCHIVE_TABLES)

    assert rows == plain_rows
    assert {pk: found for pk, found in messages.items() if found} == {
        pk: found for pk, found in plain_messages.items() if found
    }
    authors = {m.author_closer_id for found in plain_messages.values() for m in found}
    assert {author: bots.get(author, False) for author in authors} == plain_bots
    assert bots == {"bot-1": True}


def test_the_write_stores_what_the_plain_write_stores(archive):
    assert connection.vendor == "postgresql"
    ConversationMetrics.objects.all().delete()
    InsightsPendingHour.objects.all().delete()
    store.write_metrics(archive)  # the archive's tables: batch_io
    fast = stored_state()

    ConversationMetrics.objects.all().delete()
    InsightsPendingHour.objects.all().delete()
    store.write_metrics(archive, tables=store.Tables())  # other tables: the ORM

    assert fast == stored_state()
    assert len(fast[0]) == len(archive)


def test_the_write_updates_existing_rows_and_marks_their_old_hours(archive):
    moved = ConversationMetrics.objects.get(conversation_id=archive[1])
    old_hour = store.hour_of(moved.opened_at)
    Conversation.objects.filter(pk=archive[1]).update(opened_at=moved.opened_at.replace(year=2020))
    InsightsPendingHour.objects.all().delete()

    store.write_metrics([archive[1]])

    moved.refresh_from_db()
    assert moved.opened_at.year == 2020
    assert set(InsightsPendingHour.objects.values_list("hour", flat=True)) == {
        old_hour,
        store.hour_of(moved.opened_at),
    }
