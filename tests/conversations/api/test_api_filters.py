"""Every filter of the list endpoints, and bad filter values."""

from datetime import UTC, datetime

import pytest

from conversations.models import Adviser, Conversation, Customer
from tests.api_support import (
    closed_conversation,
    ids,
    open_conversation,
    superuser_token_client,  # noqa: F401 (the `client` fixture)
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def archive():
    """Three conversations that differ in every filtered attribute."""
    jon = closed_conversation(
        "cust-jon",
        "2024-05-01T10:00:00",
        opened_at="2024-05-01T09:00:00",
        texts=("My parcel never arrived", "Sorry to hear that"),
        adviser_id="adv-bob",
        adviser_email="bob@closer.app",
        first_name="Jon",
        last_name="Snow",
        random_name="Frosty Wolf",
        email="jon@winterfell.com",
        phone="+48111",
    )
    arya = closed_conversation(
        "cust-arya",
        "2024-06-01T10:00:00",
        texts=("Refund please",),
        adviser_id="adv-bot",
        adviser_email="bot@closer.app",
        adviser_is_bot=True,
        closed_type="abandoned",
        first_name="Arya",
        last_name="Stark",
        random_name="Quiet Fox",
        email="arya@winterfell.com",
        phone="+48222",
    )
    sansa = open_conversation(
        "cust-sansa",
        "2024-07-01T10:00:00",
        first_name="Sansa",
        last_name="Stark",
        random_name="Red Bird",
        email="sansa@winterfell.com",
        phone="+48333",
    )
    return {"jon": jon.pk, "arya": arya.pk, "sansa": sansa.pk}


def listed(client, url, **params):
    response = client.get(url, params)
    assert response.status_code == 200, response.content
    return sorted(ids(response))


def named(archive, *names):
    return sorted(archive[name] for name in names)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"customer": "cust-arya"}, ["arya"]),
        ({"customer_email": "JON@winterfell.com"}, ["jon"]),
        ({"customer_phone": "+48333"}, ["sansa"]),
        ({"customer_name": "stark"}, ["arya", "sansa"]),
        ({"customer_name": "Sansa Stark"}, ["sansa"]),
        ({"customer_name": "frosty"}, ["jon"]),
        ({"adviser": "adv-bob"}, ["jon"]),
        ({"adviser_email": "Bot@Closer.app"}, ["arya"]),
        ({"status": "open"}, ["sansa"]),
        ({"status": "closed"}, ["arya", "jon"]),
        ({"closed_type": "abandoned"}, ["arya"]),
        ({"bot_adviser": "true"}, ["arya"]),
        ({"bot_adviser": "false"}, ["jon"]),
        ({"opened_after": "2024-05-31T00:00:00Z"}, ["arya", "sansa"]),
        ({"opened_before": "2024-05-01T09:00:00Z"}, ["jon"]),
        ({"closed_after": "2024-05-15T00:00:00Z"}, ["arya"]),
        ({"closed_before": "2024-05-15T00:00:00Z"}, ["jon"]),
        (
            {"closed_after": "2024-01-01T00:00:00Z", "closed_before": "2024-12-31T00:00:00Z"},
            ["arya", "jon"],
        ),
        ({"q": "parcel"}, ["jon"]),
        ({"q": "refund"}, ["arya"]),
        ({"customer_name": "stark", "status": "closed"}, ["arya"]),
    ],
)
def test_conversation_filters_select_the_matching_conversations(client, archive, params, expected):
    assert listed(client, "/api/v1/conversations/", **params) == named(archive, *expected)


def test_opened_at_filters_read_a_time_without_offset_as_utc(client, archive):
    assert listed(client, "/api/v1/conversations/", opened_before="2024-05-01T09:00:00") == named(
        archive, "jon"
    )


def test_times_with_any_offset_python_accepts_are_compared_in_utc(client, archive):
    # +16:56 is beyond what PostgreSQL accepts in a timestamp literal.
    assert listed(
        client, "/api/v1/conversations/", opened_before="2024-05-01T09:00:00-16:56"
    ) == named(archive, "jon")


def test_updated_since_selects_conversations_changed_at_or_after_the_time(client, archive):
    Conversation.objects.filter(pk=archive["jon"]).update(
        updated_at=datetime(2024, 1, 1, tzinfo=UTC)
    )
    Conversation.objects.exclude(pk=archive["jon"]).update(
        updated_at=datetime(2024, 3, 1, tzinfo=UTC)
    )

    assert listed(client, "/api/v1/conversations/", updated_since="2024-03-01T00:00:00Z") == (
        named(archive, "arya", "sansa")
    )


@pytest.mark.parametrize(
    "params",
    [
        {"opened_after": "yesterday"},
        {"closed_before": "2024-13-01T00:00:00Z"},
        {"updated_since": "not a time"},
        {"status": "archived"},
        {"bot_adviser": "maybe"},
        {"q": "nul\x00byte"},
        {"customer": "nul\x00byte"},
        {"opened_after": "0001-01-01T00:00:00+05:00"},
        {"closed_before": "9999-12-31T23:59:59-10:00"},
    ],
)
def test_a_bad_filter_value_is_a_400_naming_the_filter(client, archive, params):
    response = client.get("/api/v1/conversations/", params)

    assert response.status_code == 400
    assert set(response.json()) == set(params)


# Every date-time parameter of every list, each with a bad value: the 400
# names that parameter (a range filter's halves used to be filed under the
# filter's name, `opened`, which no client sends).
DATETIME_PARAMETERS = [
    ("/api/v1/conversations/", "opened_after"),
    ("/api/v1/conversations/", "opened_before"),
    ("/api/v1/conversations/", "closed_after"),
    ("/api/v1/conversations/", "closed_before"),
    ("/api/v1/conversations/", "updated_since"),
    ("/api/v1/export/conversations.ndjson", "opened_after"),
    ("/api/v1/export/messages.csv", "closed_before"),
    ("/api/v1/messages/", "sent_after"),
    ("/api/v1/messages/", "sent_before"),
    ("/api/v1/customers/", "updated_since"),
    ("/api/v1/advisers/", "updated_since"),
    ("/api/v1/inbound-events/", "received_after"),
    ("/api/v1/inbound-events/", "received_before"),
]


@pytest.mark.parametrize(("url", "parameter"), DATETIME_PARAMETERS)
def test_a_bad_time_is_a_400_naming_its_own_parameter(client, url, parameter):
    response = client.get(url, {parameter: "yesterday"}, HTTP_ACCEPT="application/json")

    assert response.status_code == 400
    assert list(response.json()) == [parameter]
    assert response.json()[parameter] == ["Enter a valid date/time."]


def test_a_good_half_of_a_range_is_not_blamed_for_the_bad_one(client):
    response = client.get(
        "/api/v1/conversations/",
        {"opened_after": "2024-05-01T00:00:00Z", "opened_before": "2024-13-01T00:00:00Z"},
    )

    assert response.status_code == 400
    assert list(response.json()) == ["opened_before"]


def test_both_bad_halves_of_a_range_are_named(client):
    response = client.get("/api/v1/messages/", {"sent_after": "x", "sent_before": "y"})

    assert response.status_code == 400
    assert set(response.json()) == {"sent_after", "sent_before"}


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("opened_at", ["jon", "arya", "sansa"]),
        ("-opened_at", ["sansa", "arya", "jon"]),
        ("id", ["jon", "arya", "sansa"]),
    ],
)
def test_conversations_can_be_ordered(client, archive, ordering, expected):
    response = client.get("/api/v1/conversations/", {"ordering": ordering})

    assert ids(response) == [archive[name] for name in expected]


def test_conversations_come_newest_first_by_default(client, archive):
    assert ids(client.get("/api/v1/conversations/")) == [
        archive["sansa"],
        archive["arya"],
        archive["jon"],
    ]


def message_texts(client, **params):
    response = client.get("/api/v1/messages/", params)
    assert response.status_code == 200, response.content
    return sorted(row["text"] for row in response.json()["results"])


def test_messages_filter_by_conversation(client, archive):
    assert message_texts(client, conversation=archive["arya"]) == ["Refund please"]


def test_a_conversation_id_must_be_a_whole_number(client, archive):
    assert client.get("/api/v1/messages/", {"conversation": "1.5"}).status_code == 400


def test_messages_filter_by_customer(client, archive):
    assert message_texts(client, customer="cust-jon") == [
        "My parcel never arrived",
        "Sorry to hear that",
    ]


def test_messages_filter_by_author_role(client, archive):
    assert message_texts(client, author_role="ADVISER") == ["Sorry to hear that"]


def test_messages_filter_by_sent_time(client, archive):
    assert message_texts(client, sent_after="2024-05-15T00:00:00Z") == ["Refund please"]
    assert message_texts(client, sent_before="2024-05-15T00:00:00Z") == [
        "My parcel never arrived",
        "Sorry to hear that",
    ]


def customer_ids(client, url, **params):
    response = client.get(url, params)
    assert response.status_code == 200, response.content
    return sorted(row["id"] for row in response.json()["results"])


def test_customers_filter_by_email_phone_and_name(client, archive):
    url = "/api/v1/customers/"
    assert customer_ids(client, url, email="ARYA@winterfell.com") == ["cust-arya"]
    assert customer_ids(client, url, phone="+48111") == ["cust-jon"]
    assert customer_ids(client, url, name="stark") == ["cust-arya", "cust-sansa"]
    assert customer_ids(client, url, name="red bird") == ["cust-sansa"]


def test_customers_filter_by_updated_since(client, archive):
    Customer.objects.exclude(closer_id="cust-jon").update(
        updated_at=datetime(2024, 1, 1, tzinfo=UTC)
    )

    assert customer_ids(client, "/api/v1/customers/", updated_since="2024-02-01T00:00:00Z") == [
        "cust-jon"
    ]


def test_advisers_filter_by_email_bot_name_and_updated_since(client, archive):
    url = "/api/v1/advisers/"
    Adviser.objects.filter(closer_id="adv-bot").update(updated_at=datetime(2024, 1, 1, tzinfo=UTC))

    assert customer_ids(client, url, email="BOB@closer.app") == ["adv-bob"]
    assert customer_ids(client, url, is_bot="true") == ["adv-bot"]
    assert customer_ids(client, url, name="bob holmes") == ["adv-bob", "adv-bot"]
    assert customer_ids(client, url, updated_since="2024-02-01T00:00:00Z") == ["adv-bob"]
