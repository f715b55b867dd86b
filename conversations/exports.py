"""Export of conversations as NDJSON and messages as CSV.

Shared by the admin's export action and the REST API's streaming endpoints.
Both functions yield bytes and read the database in chunks, so the caller can
wrap them in a StreamingHttpResponse.
"""

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from .models import Conversation, Message

CHUNK_SIZE = 2000

MESSAGE_CSV_COLUMNS = [
    "message_id",
    "conversation_id",
    "sent_at",
    "author_role",
    "author_id",
    "text",
    "customer_id",
    "customer_name",
    "customer_email",
    "adviser_id",
    "adviser_name",
    "adviser_email",
]


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def conversation_record(conversation: Conversation, messages: list[Message]) -> dict[str, Any]:
    customer = conversation.customer
    adviser = conversation.assignee
    return {
        "id": conversation.pk,
        "status": conversation.status,
        "closed_type": conversation.closed_type,
        "opened_at": iso(conversation.opened_at),
        "closed_at": iso(conversation.closed_at),
        "created_event_missing": conversation.created_event_missing,
        "visitor_context": conversation.visitor_context,
        "customer": {
            "id": customer.closer_id,
            "first_name": customer.first_name,
            "last_name": customer.last_name,
            "alias": customer.random_name,
            "email": customer.email,
            "phone": customer.phone,
        },
        "adviser": None
        if adviser is None
        else {
            "id": adviser.closer_id,
            "first_name": adviser.first_name,
            "last_name": adviser.last_name,
            "email": adviser.email,
            "is_bot": adviser.is_bot,
        },
        "messages": [
            {
                "sent_at": iso(m.sent_at),
                "author_role": m.author_role,
                "author_id": m.author_closer_id,
                "text": m.text,
            }
            for m in messages
        ],
    }


def stream_conversations_ndjson(conversations: QuerySet[Conversation]) -> Iterator[bytes]:
    """One JSON object per line: a conversation with its messages."""
    rows = conversations.select_related("customer", "assignee").order_by("pk")
    for conversation in rows.iterator(chunk_size=CHUNK_SIZE):
        messages = list(conversation.messages.order_by("sent_at", "id"))
        line = json.dumps(conversation_record(conversation, messages), ensure_ascii=False)
        yield line.encode() + b"\n"


def stream_messages_csv(conversations: QuerySet[Conversation]) -> Iterator[bytes]:
    """One CSV row per message, with its conversation's customer and adviser."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> bytes:
        data = buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
        return data

    writer.writerow(MESSAGE_CSV_COLUMNS)
    yield flush()
    messages = (
        Message.objects.filter(conversation__in=conversations.values("pk"))
        .select_related("conversation__customer", "conversation__assignee")
        .order_by("conversation_id", "sent_at", "id")
    )
    for message in messages.iterator(chunk_size=CHUNK_SIZE):
        customer = message.conversation.customer
        adviser = message.conversation.assignee
        writer.writerow(
            [
                message.pk,
                message.conversation_id,
                iso(message.sent_at),
                message.author_role,
                message.author_closer_id,
                message.text,
                customer.closer_id,
                customer.display_name,
                customer.email,
                adviser.closer_id if adviser else "",
                str(adviser) if adviser else "",
                adviser.email if adviser else "",
            ]
        )
        yield flush()
