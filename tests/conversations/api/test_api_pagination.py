"""Cursor pagination: bounded pages, and no row repeated or skipped while
rows are inserted between page requests."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from conversations.models import Conversation, Customer, Message
from tests.api_support import (
    ids,
    superuser_token_client,  # noqa: F401 (the `client` fixture)
)

pytestmark = pytest.mark.django_db

START = datetime(2024, 1, 1, tzinfo=UTC)


def add_conversations(count, *, first_minute=0, same_time=False, customer="c-1"):
    """Open conversations one minute apart (or all at one time), quickly."""
    owner, _ = Customer.objects.get_or_create(closer_id=customer)
    rows = []
    for i in range(first_minute, first_minute + count):
        opened = START if same_time else START + timedelta(minutes=i)
        rows.append(
            Conversation(
                customer=owner,
                status="open",
                opened_at=opened,
                created_event_ms=int(opened.timestamp() * 1000) + i,
            )
        )
    return [row.pk for row in Conversation.objects.bulk_create(rows)]


def walk(client, url, *, between_pages=lambda page: None):
    seen, page = [], 0
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        seen += ids(response)
        url = response.json()["next"]
        page += 1
        between_pages(page)
    return seen


def test_pages_hold_100_conversations_by_default(client):
    add_conversations(150)

    body = client.get("/api/v1/conversations/").json()

    assert len(body["results"]) == 100
    assert body["next"] is not None
    assert body["previous"] is None


def test_the_page_size_can_be_chosen_up_to_1000(client):
    add_conversations(1005)

    assert len(ids(client.get("/api/v1/conversations/", {"page_size": 7}))) == 7
    assert len(ids(client.get("/api/v1/conversations/", {"page_size": 5000}))) == 1000


def test_walking_every_page_returns_each_conversation_once_in_order(client):
    created = add_conversations(25)

    seen = walk(client, "/api/v1/conversations/?page_size=10")

    assert seen == sorted(created, reverse=True)  # newest first, one minute apart


def test_rows_inserted_between_pages_neither_repeat_nor_push_others_out(client):
    original = add_conversations(30, first_minute=100)
    inserted = []

    def insert_newer_and_older(page):
        # Newer ones land before the cursor, older ones after it.
        inserted.extend(add_conversations(3, first_minute=1000 + 10 * page))
        inserted.extend(add_conversations(3, first_minute=10 * page))

    seen = walk(client, "/api/v1/conversations/?page_size=7", between_pages=insert_newer_and_older)

    assert len(seen) == len(set(seen)), "a conversation was listed twice"
    assert set(original) <= set(seen), "a conversation was skipped"
    assert set(seen) - set(original) <= set(inserted)


def test_conversations_opened_at_the_same_time_are_paged_without_gaps(client):
    created = add_conversations(23, same_time=True)

    seen = walk(client, "/api/v1/conversations/?page_size=5")

    assert seen == sorted(created, reverse=True)  # ties broken by id


def test_a_chosen_ordering_is_kept_across_pages(client):
    created = add_conversations(12)

    seen = walk(client, "/api/v1/conversations/?page_size=5&ordering=opened_at")

    assert seen == created


def test_the_previous_link_returns_the_page_before(client):
    add_conversations(12)
    first = client.get("/api/v1/conversations/", {"page_size": 5}).json()
    second = client.get(first["next"]).json()

    back = client.get(second["previous"]).json()

    assert [row["id"] for row in back["results"]] == [row["id"] for row in first["results"]]


def test_a_forged_cursor_is_a_clear_404(client):
    response = client.get("/api/v1/conversations/", {"cursor": "not-a-cursor"})

    assert response.status_code == 404
    assert response.json() == {"detail": "Invalid cursor"}


def test_messages_are_cursor_paginated_too(client):
    body = client.get("/api/v1/messages/").json()

    assert set(body) == {"next", "previous", "results"}


def add_messages_sent_out_of_order(count):
    """Messages whose storage order (id) is not their time order."""
    conversation = Conversation.objects.get(pk=add_conversations(1)[0])
    rows = [
        Message(
            conversation=conversation,
            author_role="CUSTOMER",
            text=f"line {i}",
            sent_at=START + timedelta(minutes=(i * 7) % count),
            fingerprint=f"f{i}",
        )
        for i in range(count)
    ]
    return Message.objects.bulk_create(rows)


def test_messages_in_a_sent_range_can_be_walked_in_time_order(client):
    messages = add_messages_sent_out_of_order(23)
    after = START + timedelta(minutes=5)

    seen = walk(
        client,
        f"/api/v1/messages/?page_size=4&ordering=sent_at&sent_after={after:%Y-%m-%dT%H:%M:%SZ}",
    )

    in_range = [m for m in messages if m.sent_at >= after]
    assert seen == [m.pk for m in sorted(in_range, key=lambda m: (m.sent_at, m.pk))]


def test_messages_in_time_order_are_read_from_their_index(client):
    add_messages_sent_out_of_order(5)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
    plan = Message.objects.filter(sent_at__gte=START).order_by("sent_at", "id")[:101].explain()
    assert "message_sent_idx" in plan
    assert "Sort" not in plan
