"""The normaliser: Closer events in, customers/advisers/conversations/messages out."""

from datetime import UTC, datetime

import pytest

from conversations.models import Adviser, Conversation, Customer, Message
from conversations.services import APPLIED, INVALID, SKIPPED, IncomingEvent, apply_events
from tests.builders import NIL, closed_event, created_event, message
from tests.conftest import fixture_json

pytestmark = pytest.mark.django_db


def apply(*payloads):
    return apply_events([IncomingEvent(payload=p) for p in payloads])


def ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def test_documented_examples_make_one_conversation_with_three_messages(
    created_example, closed_example
):
    apply(created_example, closed_example)

    conversation = Conversation.objects.get()
    assert conversation.status == "closed"
    assert conversation.closed_type == "solved"
    assert conversation.opened_at == ms(1560499664789)
    assert conversation.closed_at == ms(1560513840901)
    assert not conversation.created_event_missing
    assert conversation.visitor_context == {
        "currentPage": "https://yourbusiness.com/",
        "currentPageTitle": "Your business",
        "screenSize": "1080x1920",
        "browserVersion": "67",
        "browserName": "Firefox",
        "operatingSystem": "Mac OS X 10.14",
    }
    assert conversation.message_count == 3
    assert conversation.preview == "Hello"
    messages = list(conversation.messages.order_by("sent_at"))
    assert [(m.author_role, m.text, m.sent_at) for m in messages] == [
        ("CUSTOMER", "Hello", ms(1560177613051)),
        ("ADVISER", "Hi!", ms(1560177614270)),
        ("CUSTOMER", "Nice to meet you", ms(1560177616949)),
    ]
    assert messages[0].author_email == "jon.snow@winterfell.com"


def test_documented_examples_make_the_customer_and_adviser(created_example, closed_example):
    apply(created_example, closed_example)

    customer = Customer.objects.get()
    assert (customer.closer_id, customer.first_name, customer.last_name) == (NIL, "Jon", "Snow")
    assert customer.random_name == "Frosty Wolf"
    assert customer.email == "jon.snow@winterfell.com"
    assert customer.phone == "+48123456789"
    adviser = Adviser.objects.get()
    assert (adviser.first_name, adviser.last_name, adviser.email) == (
        "Bob",
        "Holmes",
        "bob.holmes@closer.app",
    )
    assert adviser.is_bot is False
    assert Conversation.objects.get().assignee == adviser


@pytest.mark.parametrize(
    "created_fixture", ["conversation.created.json", "conversation.created.email-inside.json"]
)
def test_email_and_phone_are_read_beside_or_inside_customer(created_fixture):
    apply(fixture_json(created_fixture))

    customer = Customer.objects.get()
    assert (customer.email, customer.phone) == ("jon.snow@winterfell.com", "+48123456789")


def test_created_event_alone_is_an_open_conversation(created_example):
    apply(created_example)

    conversation = Conversation.objects.get()
    assert conversation.status == "open"
    assert conversation.closed_at is None
    assert conversation.message_count == 0


def test_closed_before_created_ends_as_one_complete_conversation(created_example, closed_example):
    apply(closed_example)
    first = Conversation.objects.get()
    assert first.created_event_missing
    assert first.opened_at == ms(1560177613051)  # its first message

    apply(created_example)

    conversation = Conversation.objects.get()
    assert conversation.pk == first.pk  # kept its closed event, so kept its key
    assert not conversation.created_event_missing
    assert conversation.opened_at == ms(1560499664789)
    assert conversation.message_count == 3


def test_closed_without_created_and_without_messages_opens_at_its_own_time():
    apply(closed_event("c1", 5_000_000, messages=[]))

    conversation = Conversation.objects.get()
    assert conversation.created_event_missing
    assert conversation.opened_at == conversation.closed_at == ms(5_000_000)


def test_two_back_to_back_conversations_of_one_customer_pair_in_time_order():
    apply(
        closed_event("c1", 4_000_000),
        created_event("c1", 3_000_000),
        closed_event("c1", 2_000_000),
        created_event("c1", 1_000_000),
    )

    pairs = list(
        Conversation.objects.order_by("opened_at").values_list(
            "created_event_ms", "closed_event_ms"
        )
    )
    assert pairs == [(1_000_000, 2_000_000), (3_000_000, 4_000_000)]


def test_a_late_created_event_repairs_a_created_missing_conversation_without_moving_messages():
    apply(
        created_event("c1", 1_000_000), closed_event("c1", 2_000_000), closed_event("c1", 4_000_000)
    )
    second = Conversation.objects.get(closed_event_ms=4_000_000)
    assert second.created_event_missing
    message_ids = set(second.messages.values_list("pk", flat=True))

    apply(created_event("c1", 3_000_000))

    second.refresh_from_db()
    assert not second.created_event_missing
    assert second.created_event_ms == 3_000_000
    assert set(second.messages.values_list("pk", flat=True)) == message_ids


def test_a_created_between_created_and_closed_re_pairs_and_leaves_the_first_open():
    apply(created_event("c1", 1_000_000), closed_event("c1", 3_000_000))
    closed_row = Conversation.objects.get()

    apply(created_event("c1", 2_000_000))

    rows = list(Conversation.objects.order_by("opened_at"))
    assert [(r.status, r.created_event_ms, r.closed_event_ms) for r in rows] == [
        ("open", 1_000_000, None),
        ("closed", 2_000_000, 3_000_000),
    ]
    assert rows[1].pk == closed_row.pk


def test_an_open_conversation_row_is_replaced_when_its_created_event_pairs():
    apply(created_event("c1", 1_000_000))
    apply(closed_event("c1", 2_000_000))

    conversation = Conversation.objects.get()
    assert (conversation.created_event_ms, conversation.closed_event_ms) == (1_000_000, 2_000_000)


def test_same_event_three_times_adds_nothing(closed_example):
    for _ in range(3):
        apply(closed_example)

    assert Conversation.objects.count() == 1
    assert Message.objects.count() == 3


def test_redelivered_history_with_one_more_message_adds_only_that_message():
    first = closed_event("c1", 2_000_000)
    longer = closed_event("c1", 2_000_000)
    longer["messageHistory"].append(message("CUSTOMER", "one more", 1_999_500))
    apply(first)
    result = apply(longer)

    assert result.new_messages == 1
    assert Conversation.objects.get().message_count == 3


def test_identical_messages_at_different_times_are_different_messages():
    apply(
        closed_event(
            "c1",
            2_000_000,
            messages=[message("CUSTOMER", "ok", 1_000_000), message("CUSTOMER", "ok", 1_000_001)],
        )
    )
    assert Message.objects.count() == 2


def test_an_older_event_never_overwrites_newer_customer_details():
    apply(created_event("c1", 2_000_000, email="new@example.com"))
    apply(closed_event("c1", 1_000_000, email="old@example.com"))

    assert Customer.objects.get().email == "new@example.com"


def test_a_missing_field_in_a_newer_event_keeps_the_known_value():
    apply(created_event("c1", 1_000_000, phone="+48111"))
    newer = created_event("c1", 2_000_000)
    del newer["customer"]["phone"]
    apply(newer)

    assert Customer.objects.get().phone == "+48111"


def test_a_batch_spanning_many_customers_applies_each():
    result = apply(*[closed_event(f"c{i}", 1_000_000 + i) for i in range(50)])

    assert result.count(APPLIED) == 50
    assert result.new_conversations == 50
    assert Customer.objects.count() == 50
    assert Message.objects.count() == 100


def test_unknown_event_types_are_skipped_and_bad_events_reported_without_stopping_the_batch():
    result = apply(
        {"eventType": "ThreadTransferredEvent", "customer": {"id": "c1"}},
        {"eventType": "ThreadClosedEvent", "timestamp": 5},
        {"eventType": "ThreadCreatedEvent", "customer": {"id": "c1"}, "timestamp": "soon"},
        created_event("c2", 1_000_000),
    )

    assert [o.status for o in result.outcomes] == [SKIPPED, INVALID, INVALID, APPLIED]
    assert result.outcomes[1].reason == "customer is missing or not an object"
    assert "timestamp" in result.outcomes[2].reason
    assert Conversation.objects.count() == 1


def test_an_explicit_conversation_id_decides_identity_over_the_walk():
    created = created_event("c1", 1_000_000)
    created["threadId"] = "t-1"
    closed = closed_event("c1", 5_000_000)
    closed["conversation"] = {"id": "t-1"}
    apply(created, created_event("c1", 3_000_000), closed)

    named = Conversation.objects.get(closer_id="t-1")
    assert (named.created_event_ms, named.closed_event_ms) == (1_000_000, 5_000_000)
    assert Conversation.objects.get(closer_id="").status == "open"


def test_epoch_milliseconds_become_aware_utc_datetimes():
    apply(created_event("c1", 1_560_499_664_789))

    opened = Conversation.objects.get().opened_at
    assert opened.tzinfo is not None
    assert opened == datetime(2019, 6, 14, 8, 7, 44, 789000, tzinfo=UTC)
