"""A customer's or adviser's new details are a change of their conversations:
a client syncing with ``?updated_since=`` is sent them again, through the API."""

import json
from datetime import UTC, datetime

import pytest
from django.utils import timezone

from conversations.models import Conversation
from conversations.services import IncomingEvent, apply_events
from tests.api_support import (
    closed_conversation,
    ids,
    ms,
    superuser_token_client,  # noqa: F401 (the `client` fixture)
)
from tests.builders import closed_event, created_event

pytestmark = pytest.mark.django_db

LONG_AGO = datetime(2024, 1, 1, tzinfo=UTC)


JON_CLOSED = closed_event("cust-jon", ms("2024-05-01T10:00:00"), adviser_id="adv-bob")


@pytest.fixture
def synced():
    """Two conversations of Jon (adviser Bob) and one of Arya (adviser Ann),
    all last changed long ago: a client has synced them."""
    apply(JON_CLOSED)
    conversations = {
        "jon-1": Conversation.objects.get(closed_event_ms=JON_CLOSED["timestamp"]),
        "jon-2": closed_conversation("cust-jon", "2024-05-02T10:00:00", adviser_id="adv-bob"),
        "arya": closed_conversation("cust-arya", "2024-05-03T10:00:00", adviser_id="adv-ann"),
    }
    Conversation.objects.update(updated_at=LONG_AGO)
    return {name: conversation.pk for name, conversation in conversations.items()}


def changed_since(client, since):
    response = client.get(
        "/api/v1/conversations/", {"updated_since": since.isoformat(), "page_size": 1000}
    )
    assert response.status_code == 200
    return set(ids(response))


def apply(*events):
    apply_events([IncomingEvent(payload=event) for event in events])


def test_a_customer_renamed_by_a_newer_event_resends_their_conversations(client, synced):
    renamed_at = timezone.now()
    apply(created_event("cust-jon", ms("2024-06-01T10:00:00"), first_name="Jonathan"))

    changed = changed_since(client, renamed_at)

    assert {synced["jon-1"], synced["jon-2"]} <= changed
    assert synced["arya"] not in changed
    response = client.get(f"/api/v1/conversations/{synced['jon-1']}/")
    assert response.json()["customer"]["first_name"] == "Jonathan"
    assert datetime.fromisoformat(response.json()["updated_at"]) >= renamed_at


def test_an_adviser_renamed_by_a_newer_event_resends_their_conversations(client, synced):
    renamed_at = timezone.now()
    event = closed_event("cust-sansa", ms("2024-06-01T10:00:00"), adviser_id="adv-bob")
    event["assignee"]["lastName"] = "Holmes-Watson"
    apply(event)

    changed = changed_since(client, renamed_at)

    assert {synced["jon-1"], synced["jon-2"]} <= changed
    assert synced["arya"] not in changed


def test_the_export_resends_them_too(client, synced):
    renamed_at = timezone.now()
    apply(created_event("cust-arya", ms("2024-06-01T10:00:00"), email="arya@braavos.org"))

    response = client.get(
        "/api/v1/export/conversations.ndjson", {"updated_since": renamed_at.isoformat()}
    )
    assert response.status_code == 200
    lines = b"".join(response.streaming_content).decode().splitlines()
    exported = {json.loads(line)["id"]: json.loads(line) for line in lines}

    assert synced["arya"] in exported
    assert exported[synced["arya"]]["customer"]["email"] == "arya@braavos.org"
    assert synced["jon-1"] not in exported


def test_an_unchanged_redelivery_bumps_nothing(client, synced):
    redelivered_at = timezone.now()
    apply(JON_CLOSED)

    assert changed_since(client, redelivered_at) == set()


def test_a_newer_event_repeating_the_same_details_bumps_no_old_conversation(client, synced):
    seen_at = timezone.now()
    apply(created_event("cust-jon", ms("2024-06-01T10:00:00")))  # the builders' same details

    changed = changed_since(client, seen_at)

    # Only the new open conversation itself.
    assert changed == {Conversation.objects.get(customer__closer_id="cust-jon", status="open").pk}


def test_an_older_event_with_other_details_changes_and_bumps_nothing(client, synced):
    late_at = timezone.now()
    # Bob's details were last written on 2024-05-02: newest field wins, so an
    # event from April changes none of them.
    event = closed_event("cust-sansa", ms("2024-04-01T10:00:00"), adviser_id="adv-bob")
    event["assignee"]["lastName"] = "Holmes-Watson"
    apply(event)

    changed = changed_since(client, late_at)

    assert synced["jon-1"] not in changed
    assert synced["jon-2"] not in changed
    assert len(changed) == 1  # Sansa's new conversation
