"""apply_retention on an archive of 200,000 messages works in bounded batches."""

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.models import Conversation, ConversationDeletion, Customer, Message
from tests.conversations.test_retention import transactions
from webhooks.retention import apply_retention

pytestmark = pytest.mark.django_db

CONVERSATIONS = 4_000
MESSAGES_EACH = 50  # 200,000 messages


CUSTOMERS = """
    INSERT INTO conversations_customer (closer_id, api_key, first_name, last_name,
        random_name, email, phone, field_times, created_at, updated_at)
    SELECT 'c' || n, '', 'Jon', 'Snow', '', 'jon' || n || '@wall.org', '', '{}', now(), now()
    FROM generate_series(1, %(customers)s) AS n
"""
CONVERSATION_ROWS = """
    INSERT INTO conversations_conversation (customer_id, closer_id, status, closed_type,
        opened_at, closed_at, closed_event_ms, created_event_missing, visitor_context,
        message_count, preview, created_at, updated_at)
    SELECT customer.id, '', 'closed', 'solved', %(closed)s, %(closed)s, n, true, '{}',
        %(each)s, 'hello', now(), now()
    FROM generate_series(1, %(conversations)s) AS n
    JOIN conversations_customer AS customer
        ON customer.closer_id = 'c' || (n %% %(customers)s + 1)
"""
MESSAGES = """
    INSERT INTO conversations_message (conversation_id, author_role, author_closer_id,
        author_email, author_phone, text, sent_at, fingerprint)
    SELECT conversation.id, 'CUSTOMER', '', '', '', 'hello ' || m, %(closed)s, md5(m::text)
    FROM conversations_conversation AS conversation, generate_series(1, %(each)s) AS m
"""


def old_archive() -> None:
    """One customer per 100 conversations, all closed 40 days ago, written
    straight in SQL (a backfill of this size would take minutes)."""
    closed = timezone.now() - timedelta(days=40)
    params: dict[str, int | datetime] = {
        "customers": CONVERSATIONS // 100,
        "conversations": CONVERSATIONS,
        "each": MESSAGES_EACH,
        "closed": closed,
    }
    with connection.cursor() as cursor:
        for statement in (CUSTOMERS, CONVERSATION_ROWS, MESSAGES):
            cursor.execute(statement, params)
    assert Message.objects.count() == CONVERSATIONS * MESSAGES_EACH


def test_200000_messages_are_deleted_in_bounded_transactions(settings):
    old_archive()
    settings.RETENTION_CONVERSATIONS_DAYS = 30

    with CaptureQueriesContext(connection) as captured:
        report = apply_retention()

    assert report.counts["messages deleted"] == CONVERSATIONS * MESSAGES_EACH
    assert (Message.objects.count(), Conversation.objects.count(), Customer.objects.count()) == (
        0,
        0,
        0,
    )
    assert ConversationDeletion.objects.filter(reason="retention").count() == CONVERSATIONS
    # Each transaction deletes the messages of at most RETENTION_BATCH_SIZE
    # conversations (50 each: at most 50,000 rows), in one statement.
    per_transaction = [
        [q["sql"] for q in statements if q["sql"].startswith('DELETE FROM "conversations_message"')]
        for statements in transactions(captured.captured_queries)
    ]
    batches = [deletes for deletes in per_transaction if deletes]
    assert len(batches) == CONVERSATIONS // settings.RETENTION_BATCH_SIZE
    for deletes in batches:
        ids = deletes[0].split(" IN (", 1)[1].count(",") + 1
        assert ids * MESSAGES_EACH <= 50_000
