"""What each endpoint shows: transcripts, people by Closer id, inbound events."""

import json
from datetime import timedelta

import pytest

from tests.api_support import (
    closed_conversation,
    ids,
    open_conversation,
    superuser_token_client,  # noqa: F401 (the `client` fixture)
)
from webhooks.models import EventSource, InboundEvent

pytestmark = pytest.mark.django_db


def test_a_conversation_detail_carries_its_transcript_oldest_first(client):
    conversation = closed_conversation(
        "c-1", "2024-05-01T10:00:00", opened_at="2024-05-01T09:00:00", texts=("one", "two", "3")
    )

    body = client.get(f"/api/v1/conversations/{conversation.pk}/").json()

    assert [m["text"] for m in body["messages"]] == ["one", "two", "3"]
    assert [m["author_role"] for m in body["messages"]] == ["CUSTOMER", "ADVISER", "CUSTOMER"]
    assert body["messages"][0]["sent_at"] == "2024-05-01T09:59:57Z"
    assert body["opened_at"] == "2024-05-01T09:00:00Z"
    assert body["closed_at"] == "2024-05-01T10:00:00Z"
    assert body["customer"]["id"] == "c-1"
    assert body["adviser"] == {
        "id": "adviser-1",
        "first_name": "Bob",
        "last_name": "Holmes",
        "email": "bob.holmes@closer.app",
        "is_bot": False,
    }
    assert body["message_count"] == 3


def test_the_conversation_list_shows_a_preview_not_the_transcript(client):
    closed_conversation("c-1", "2024-05-01T10:00:00", texts=("first words", "reply"))

    row = client.get("/api/v1/conversations/").json()["results"][0]

    assert row["preview"] == "first words"
    assert "messages" not in row


def test_an_open_conversation_has_no_adviser_and_no_closed_time(client):
    conversation = open_conversation("c-1", "2024-05-01T09:00:00")

    body = client.get(f"/api/v1/conversations/{conversation.pk}/").json()

    assert (body["status"], body["adviser"], body["closed_at"]) == ("open", None, None)
    assert body["messages"] == []


def test_an_unknown_conversation_is_404(client):
    assert client.get("/api/v1/conversations/999999/").status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/customers/%00/",
        "/api/v1/advisers/a%00b/",
        "/api/v1/customers/tab%09/",
        "/api/v1/conversations/99999999999999999999999/",
        "/api/v1/conversations/not-a-number/",
    ],
)
def test_impossible_ids_are_404_not_errors(client, url):
    assert client.get(url).status_code == 404


def test_customers_and_advisers_are_looked_up_by_closer_id(client):
    closed_conversation("0f8e-customer", "2024-05-01T10:00:00", adviser_id="a.b@c")

    customer = client.get("/api/v1/customers/0f8e-customer/").json()
    adviser = client.get("/api/v1/advisers/a.b@c/").json()

    assert (customer["id"], customer["alias"]) == ("0f8e-customer", "Frosty Wolf")
    assert (adviser["id"], adviser["is_bot"]) == ("a.b@c", False)


def test_a_message_names_its_conversation(client):
    conversation = closed_conversation("c-1", "2024-05-01T10:00:00", texts=("only",))

    row = client.get("/api/v1/messages/").json()["results"][0]

    assert (row["conversation"], row["text"]) == (conversation.pk, "only")


@pytest.fixture
def inbound_event(make_endpoint):
    endpoint, _ = make_endpoint(
        hmac_secrets=["hmac-secret-value"], standard_webhooks_secrets=["whsec_c2VjcmV0"]
    )
    return InboundEvent.objects.create(
        endpoint=endpoint,
        source=EventSource.WEBHOOK,
        dedupe_key="key-1",
        event_type="ThreadClosedEvent",
        customer_closer_id="c-1",
        raw_body=b'{"eventType": "ThreadClosedEvent"}',
        headers={
            "content-type": "application/json",
            "x-signature-256": "sha256=abcdef",
            "webhook-signature": "v1,xyz",
        },
    )


def test_an_inbound_event_detail_shows_the_raw_body(client, inbound_event):
    body = client.get(f"/api/v1/inbound-events/{inbound_event.pk}/").json()

    assert json.loads(body["body"]) == {"eventType": "ThreadClosedEvent"}
    assert (body["endpoint"], body["status"], body["customer_id"]) == ("closer", "received", "c-1")


def test_inbound_events_never_show_secrets_or_signatures(client, inbound_event):
    listed = client.get("/api/v1/inbound-events/").content.decode()
    detail = client.get(f"/api/v1/inbound-events/{inbound_event.pk}/").content.decode()

    for text in (listed, detail):
        endpoint = inbound_event.endpoint
        for secret in (
            "hmac-secret-value",
            "whsec_c2VjcmV0",
            "abcdef",
            "v1,xyz",
            endpoint.token_hash,
            endpoint.token_hint,
        ):
            assert secret not in text
    assert json.loads(detail)["headers"]["x-signature-256"] == "[redacted]"


def test_the_inbound_event_list_leaves_the_raw_body_out(client, inbound_event):
    row = client.get("/api/v1/inbound-events/").json()["results"][0]

    assert "body" not in row


def test_inbound_events_filter_by_status_and_customer(client, inbound_event):
    def listed(**params):
        return ids(client.get("/api/v1/inbound-events/", params))

    assert listed(status="received", customer="c-1") == [inbound_event.pk]
    assert listed(status="processed") == []
    assert listed(endpoint="closer", event_type="ThreadClosedEvent") == [inbound_event.pk]
    assert listed(source="webhook") == [inbound_event.pk]
    assert listed(source="backfill") == []
    assert client.get("/api/v1/inbound-events/", {"status": "bogus"}).status_code == 400


def test_inbound_events_filter_by_receive_time(client, inbound_event):
    received = inbound_event.received_at

    def listed(**params):
        return ids(client.get("/api/v1/inbound-events/", params))

    assert listed(received_after=(received - timedelta(seconds=1)).isoformat()) == [
        inbound_event.pk
    ]
    assert listed(received_before=(received - timedelta(seconds=1)).isoformat()) == []
