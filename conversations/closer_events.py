"""The archive written back out as Closer events (what ``dump_events`` prints).

One ``ThreadCreatedEvent`` per conversation that has one and one
``ThreadClosedEvent`` per closed conversation, in the payload shapes
Closer sends, so that backfilling the output into an empty database gives the
same archive. Each event carries its own visitor context from the ledger
(the created and the closed event of one conversation may differ); customer
and adviser details are the archive's current ones, which the backfill's
newest-wins merge reproduces.

Conversations are read in keyset-paginated chunks with their messages and
ledger rows fetched per chunk: memory does not grow with the archive.
"""

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from .models import Adviser, Conversation, ConversationEvent, Customer, EventKind, Message
from .payloads import EVENT_TYPES, datetime_to_ms

CHUNK_SIZE = 500


def closer_events(*, chunk_size: int = CHUNK_SIZE) -> Iterator[dict[str, Any]]:
    """Every conversation's events, conversation by conversation (by id)."""
    last_pk = 0
    while True:
        chunk = list(
            Conversation.objects.filter(pk__gt=last_pk)
            .select_related("customer", "assignee")
            .order_by("pk")[:chunk_size]
        )
        if not chunk:
            return
        last_pk = chunk[-1].pk
        transcripts = _transcripts(chunk)
        ledger = _ledger(chunk)
        for conversation in chunk:
            customer = conversation.customer
            if conversation.created_event_ms is not None:
                context = ledger.get(
                    (customer.pk, EventKind.CREATED, conversation.created_event_ms)
                )
                yield _with_ref(
                    {
                        "customer": _customer(customer, context),
                        "timestamp": conversation.created_event_ms,
                        "eventType": EVENT_TYPES["created"][0],
                    },
                    conversation,
                )
            if conversation.closed_event_ms is not None:
                context = ledger.get((customer.pk, EventKind.CLOSED, conversation.closed_event_ms))
                yield _with_ref(
                    {
                        "customer": _customer(customer, context),
                        "timestamp": conversation.closed_event_ms,
                        "closedType": conversation.closed_type or None,
                        "assignee": _adviser(conversation.assignee),
                        "messageHistory": transcripts.get(conversation.pk, []),
                        "eventType": EVENT_TYPES["closed"][0],
                    },
                    conversation,
                )


def _transcripts(chunk: list[Conversation]) -> dict[int, list[dict[str, Any]]]:
    transcripts: dict[int, list[dict[str, Any]]] = defaultdict(list)
    closed = [c.pk for c in chunk if c.closed_event_ms is not None]
    messages = (
        Message.objects.filter(conversation_id__in=closed)
        .order_by("conversation_id", "sent_at", "id")
        .values_list(
            "conversation_id",
            "author_closer_id",
            "author_role",
            "author_email",
            "author_phone",
            "text",
            "sent_at",
        )
    )
    for conversation_id, author_id, role, email, phone, text, sent_at in messages.iterator(
        chunk_size=5000
    ):
        transcripts[conversation_id].append(
            {
                "author": {
                    "id": author_id or None,
                    "role": role,
                    "email": email or None,
                    "phone": phone or None,
                },
                "message": text,
                "timestamp": datetime_to_ms(sent_at),
            }
        )
    return transcripts


def _ledger(chunk: list[Conversation]) -> dict[tuple[int, str, int], dict[str, Any]]:
    """Each event's own visitor context, by (customer, kind, timestamp)."""
    # The unique index on (customer, kind, occurred_ms) serves this lookup.
    rows = ConversationEvent.objects.filter(
        customer_id__in={c.customer_id for c in chunk}
    ).values_list("customer_id", "kind", "occurred_ms", "visitor_context")
    return {(customer, kind, ms): context for customer, kind, ms, context in rows}


def _customer(customer: Customer, visitor_context: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "id": customer.closer_id,
        "apiKey": customer.api_key or None,
        "firstName": customer.first_name or None,
        "lastName": customer.last_name or None,
        "randomName": customer.random_name or None,
        "email": customer.email or None,
        "phone": customer.phone or None,
        "backOfficeData": [
            {"key": key, "value": value} for key, value in (visitor_context or {}).items()
        ],
    }


def _adviser(adviser: Adviser | None) -> dict[str, Any] | None:
    if adviser is None:
        return None
    return {
        "id": adviser.closer_id,
        "firstName": adviser.first_name or None,
        "lastName": adviser.last_name or None,
        "email": adviser.email or None,
        "isBot": adviser.is_bot,
    }


def _with_ref(event: dict[str, Any], conversation: Conversation) -> dict[str, Any]:
    if conversation.closer_id:
        event["threadId"] = conversation.closer_id
    return event
