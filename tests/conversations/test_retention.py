"""Retention of the archive: conversations past the period deleted or
anonymised, a batch per transaction (conversations.services.retention)."""

import re
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations import services as archive
from conversations.models import (
    RETENTION_TIME,
    Conversation,
    ConversationDeletion,
    ConversationEvent,
    Customer,
    DeletionReason,
    Message,
)
from tests.builders import closed_event, created_event, message

pytestmark = pytest.mark.django_db

HORIZON = datetime(2026, 5, 1, tzinfo=UTC)
H = archive.datetime_to_ms(HORIZON)
DAY = 86_400_000
REMOVED = "[removed by retention]"


def store(*payloads):
    archive.apply_events([archive.IncomingEvent(payload=p) for p in payloads])


def conversation(customer_id, closed_ms, opened_ms=None, **details):
    """A conversation closed at ``closed_ms`` (opened a minute before)."""
    opened_ms = closed_ms - 60_000 if opened_ms is None else opened_ms
    store(
        created_event(customer_id, opened_ms, **details),
        closed_event(customer_id, closed_ms, **details),
    )
    return Conversation.objects.get(customer__closer_id=customer_id, closed_event_ms=closed_ms)


def retain(action="delete", **options):
    return archive.apply_conversation_retention(horizon=HORIZON, action=action, **options)


def test_delete_removes_exactly_the_conversations_closed_before_the_horizon():
    before = conversation("jon", H - 1)
    at = conversation("arya", H)
    after = conversation("sansa", H + DAY)

    counts = retain()

    assert set(Conversation.objects.values_list("pk", flat=True)) == {at.pk, after.pk}
    assert not Message.objects.filter(conversation_id=before.pk).exists()
    assert counts.as_dict() == {
        "conversations": 1,
        "messages": 2,
        "customers": 1,
        "conversation_events": 2,
    }


def test_a_conversation_opened_before_the_horizon_and_closed_after_it_is_kept():
    spanning = conversation("jon", H + 1000, opened_ms=H - 10 * DAY)

    retain()

    assert list(Conversation.objects.values_list("pk", flat=True)) == [spanning.pk]


def test_an_open_conversation_counts_from_its_opening():
    store(created_event("jon", H - DAY), created_event("arya", H + DAY))

    retain()

    assert list(Conversation.objects.values_list("customer__closer_id", flat=True)) == ["arya"]


def test_each_deleted_conversation_is_recorded_for_the_deletions_feed():
    old = [conversation("jon", H - DAY).pk, conversation("arya", H - 2 * DAY).pk]
    conversation("jon", H + DAY)

    retain()

    recorded = ConversationDeletion.objects.values_list("conversation_id", "reason")
    assert sorted(recorded) == sorted((pk, DeletionReason.RETENTION) for pk in old)


def test_a_deleted_conversation_is_not_rebuilt_by_the_customers_next_event():
    old = conversation("jon", H - DAY)
    conversation("jon", H + DAY)

    retain()
    # An event right after the deleted one: the walk reads its neighbours.
    store(created_event("jon", H - DAY + 1000))

    assert not Conversation.objects.filter(closed_event_ms=old.closed_event_ms).exists()
    assert not ConversationEvent.objects.filter(occurred_ms__lte=old.closed_event_ms).exists()
    assert Conversation.objects.count() == 2


def test_a_conversation_named_by_its_payloads_goes_with_all_its_ledger_rows():
    named = [
        {**created_event("jon", H - 2 * DAY), "threadId": "t1"},
        {**closed_event("jon", H - DAY), "threadId": "t1"},
    ]
    store(*named)
    conversation("jon", H + DAY)

    retain()

    assert not Conversation.objects.filter(closer_id="t1").exists()
    assert not ConversationEvent.objects.filter(conversation_ref="t1").exists()
    assert ConversationEvent.objects.count() == 2  # the kept conversation's


def test_a_customer_left_with_no_conversation_is_deleted_and_one_with_a_newer_one_stays():
    conversation("jon", H - DAY)
    conversation("arya", H - DAY)
    conversation("arya", H + DAY)

    counts = retain()

    assert list(Customer.objects.values_list("closer_id", flat=True)) == ["arya"]
    assert counts.customers == 1


def test_anonymise_blanks_texts_and_personal_details_and_keeps_counts_and_times():
    old = conversation(
        "jon",
        H - DAY,
        back_office_data=[{"key": "email", "value": "jon@wall.org"}],
    )
    store(
        closed_event(
            "jon",
            H - DAY // 2,
            [message("CUSTOMER", "my secret word is direwolf", H - DAY // 2 - 1000)],
        )
    )
    kept = Conversation.objects.values(
        "pk", "message_count", "opened_at", "closed_at", "closed_type", "assignee_id", "status"
    )
    before = {row["pk"]: row for row in kept}

    counts = retain("anonymise")

    assert {row["pk"]: row for row in kept} == before
    assert set(Message.objects.values_list("text", "author_email", "author_phone")) == {
        (REMOVED, "", "")
    }
    for row in Conversation.objects.all():
        assert (row.preview, row.visitor_context) == ("", {})
        assert row.anonymised_at is not None and row.updated_at > old.updated_at
    assert not Conversation.objects.filter(transcript_search__isnull=False).exists()
    assert [
        c for c in ConversationEvent.objects.values_list("visitor_context", flat=True) if c
    ] == []
    assert (counts.conversations, counts.messages, counts.customers) == (2, 3, 1)


def test_anonymise_blanks_a_customer_only_once_all_their_conversations_are():
    conversation("jon", H - DAY)
    conversation("arya", H - DAY, first_name="Arya")
    conversation("arya", H + DAY, first_name="Arya")

    retain("anonymise")

    jon = Customer.objects.get(closer_id="jon")
    assert (jon.first_name, jon.last_name, jon.random_name, jon.email, jon.phone, jon.api_key) == (
        ("",) * 6
    )
    assert Customer.objects.get(closer_id="arya").first_name == "Arya"


def test_anonymising_twice_changes_nothing_the_second_time():
    conversation("jon", H - DAY)
    retain("anonymise")
    stamped = Conversation.objects.get().updated_at

    counts = retain("anonymise")

    assert counts.conversations == 0
    assert Conversation.objects.get().updated_at == stamped


def test_delete_mode_also_deletes_what_an_earlier_anonymise_mode_left():
    conversation("jon", H - DAY)
    retain("anonymise")

    counts = retain("delete")

    assert (counts.conversations, Conversation.objects.count(), Customer.objects.count()) == (
        1,
        0,
        0,
    )


@pytest.mark.parametrize("action", ["delete", "anonymise"])
def test_counting_tells_what_applying_does_and_changes_nothing(action):
    conversation("jon", H - DAY)
    conversation("jon", H - 2 * DAY)
    conversation("arya", H - DAY)
    conversation("arya", H + DAY)
    messages = list(Message.objects.values_list("text", flat=True))

    predicted = archive.count_past_retention(horizon=HORIZON, action=action)

    assert list(Message.objects.values_list("text", flat=True)) == messages
    assert Conversation.objects.count() == 4
    applied = retain(action)
    if action == "anonymise":
        applied.conversation_events = predicted.conversation_events  # updates, not deletes
    assert predicted.as_dict() == {**applied.as_dict(), "conversation_events": 6}
    assert predicted.customers == 1


def deletes_of(queries, table):
    """The DELETE statements on ``table`` and how many ids each names."""
    start = f'DELETE FROM "{table}"'  # noqa: S608 (matching statements, not querying)
    statements = [q["sql"] for q in queries if q["sql"].startswith(start)]
    return [len(re.findall(r"\d+", s.split(" IN ", 1)[1])) for s in statements]


def test_conversations_are_deleted_a_batch_per_transaction():
    for day in range(1, 6):
        conversation("jon", H - day * DAY)

    with CaptureQueriesContext(connection) as captured:
        counts = retain(batch_size=2)

    assert counts.conversations == 5
    # One transaction (a savepoint inside the test's) per batch.
    assert [
        deletes_of(statements, "conversations_conversation")
        for statements in transactions(captured.captured_queries)
        if deletes_of(statements, "conversations_conversation")
    ] == [[2], [2], [1]]


def transactions(queries):
    """The statements of each (savepoint) transaction, in order."""
    found, current = [], None
    for query in queries:
        if query["sql"].startswith("SAVEPOINT"):
            current = []
        elif query["sql"].startswith("RELEASE SAVEPOINT"):
            found.append(current)
            current = None
        elif current is not None:
            current.append(query)
    return found


def test_a_batch_stops_before_its_messages_pass_the_limit():
    for day in range(1, 5):
        conversation("jon", H - day * DAY)  # two messages each

    with CaptureQueriesContext(connection) as captured:
        retain(batch_size=100, max_messages=4)

    assert deletes_of(captured.captured_queries, "conversations_conversation") == [2, 2]


def test_anonymising_works_in_batches_too():
    for day in range(1, 6):
        conversation("jon", H - day * DAY)

    with CaptureQueriesContext(connection) as captured:
        retain("anonymise", batch_size=2)

    updates = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith('UPDATE "conversations_message"')
    ]
    assert len(updates) == 3
    assert set(Message.objects.values_list("text", flat=True)) == {REMOVED}


def test_an_unknown_action_is_refused():
    with pytest.raises(ValueError, match="erase"):
        retain("erase")


def test_retention_time_is_served_by_the_retention_index():
    """The batch query reads conversation_retention_idx, not the whole table."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    due = Conversation.objects.alias(retention_time=RETENTION_TIME).filter(
        retention_time__lt=HORIZON, anonymised_at=None
    )[:10]
    plan = due.explain()

    assert "conversation_retention_idx" in plan
