"""GET /api/v1/deletions/: the conversations a synced copy must delete too."""

from datetime import timedelta

import pytest
import yaml
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from conversations.models import Conversation, ConversationDeletion
from conversations.services import IncomingEvent, apply_events
from tests.api_support import (
    closed_conversation,
    ms,
    open_conversation,
    superuser_token_client,  # noqa: F401 (the `client` fixture)
    token_client,
    user_with_view_permissions,
)
from tests.builders import closed_event

pytestmark = pytest.mark.django_db

URL = "/api/v1/deletions/"


def feed(client, **params):
    """Every entry of the feed, following ``next`` to the end."""
    response = client.get(URL, params)
    entries = []
    while True:
        assert response.status_code == 200, response.content
        entries += response.json()["results"]
        if response.json()["next"] is None:
            return entries
        response = client.get(response.json()["next"])


def test_an_erased_customers_conversations_are_in_the_feed(client):
    kept = closed_conversation("cust-arya", "2024-05-01T10:00:00")
    erased = [
        closed_conversation("cust-jon", "2024-05-01T10:00:00").pk,
        closed_conversation("cust-jon", "2024-05-02T10:00:00").pk,
    ]

    call_command("erase_customer", "cust-jon", stdout=None)

    entries = feed(client)
    assert sorted(entry["conversation"] for entry in entries) == sorted(erased)
    assert {entry["reason"] for entry in entries} == {"erased"}
    assert kept.pk not in {entry["conversation"] for entry in entries}


def test_an_open_conversation_merged_into_a_closed_one_is_in_the_feed(client):
    opened = open_conversation("cust-jon", "2024-05-01T09:00:00")
    # Its closed event arrives: the pair is one conversation, under the
    # closed event's row, and the open row goes.
    apply_events([IncomingEvent(payload=closed_event("cust-jon", ms("2024-05-01T10:00:00")))])
    assert not Conversation.objects.filter(pk=opened.pk).exists()

    assert [(entry["conversation"], entry["reason"]) for entry in feed(client)] == [
        (opened.pk, "merged")
    ]


def test_since_leaves_out_earlier_deletions_and_keeps_those_at_that_time(client):
    now = timezone.now()
    ConversationDeletion.objects.bulk_create(
        [
            ConversationDeletion(conversation_id=1, reason="erased", deleted_at=now - timedelta(1)),
            ConversationDeletion(conversation_id=2, reason="retention", deleted_at=now),
            ConversationDeletion(conversation_id=3, reason="merged", deleted_at=now + timedelta(1)),
        ]
    )

    entries = feed(client, since=now.isoformat())

    assert [entry["conversation"] for entry in entries] == [2, 3]
    assert feed(client, since=(now + timedelta(days=2)).isoformat()) == []


def test_entries_come_oldest_first_across_pages(client):
    start = timezone.now() - timedelta(hours=1)
    # Inserted newest first, so id order is not time order; pairs share a time.
    ConversationDeletion.objects.bulk_create(
        ConversationDeletion(
            conversation_id=100 + n, reason="erased", deleted_at=start + timedelta(seconds=n // 2)
        )
        for n in reversed(range(7))
    )
    expected = [
        row.conversation_id
        for row in sorted(ConversationDeletion.objects.all(), key=lambda r: (r.deleted_at, r.pk))
    ]

    entries = feed(client, page_size=2)

    assert [entry["conversation"] for entry in entries] == expected
    assert expected[0] in {100, 101}
    assert expected[-1] == 106


def test_an_entry_is_the_id_the_reason_and_the_time_in_utc(client):
    deletion = ConversationDeletion.objects.create(conversation_id=42, reason="retention")

    (entry,) = feed(client)

    assert entry == {
        "conversation": 42,
        "reason": "retention",
        "deleted_at": deletion.deleted_at.isoformat().replace("+00:00", "Z"),
    }


@pytest.mark.parametrize(
    "since", ["yesterday", "2024-13-01T00:00:00Z", "0001-01-01T00:00:00+05:00", "nul\x00"]
)
def test_a_bad_since_is_a_400_naming_since(client, since):
    response = client.get(URL, {"since": since})

    assert response.status_code == 400
    assert list(response.json()) == ["since"]


def test_reading_the_feed_needs_the_conversation_view_permission():
    ConversationDeletion.objects.create(conversation_id=42, reason="erased")
    reader = token_client(user_with_view_permissions(Conversation, username="syncer"))
    stranger = token_client(user_with_view_permissions(username="stranger"))

    assert reader.get(URL).status_code == 200
    assert stranger.get(URL).status_code == 403
    assert APIClient().get(URL).status_code == 401


def test_the_schema_documents_the_feed_with_since_and_cursor_pagination():
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi")
    operation = yaml.safe_load(response.content)["paths"][URL]["get"]

    parameters = {parameter["name"]: parameter for parameter in operation["parameters"]}
    assert {"since", "cursor", "page_size"} <= set(parameters)
    assert parameters["since"]["schema"]["format"] == "date-time"
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/PaginatedConversationDeletionList")
