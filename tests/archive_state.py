"""A comparable snapshot of one customer's archive, for property tests."""

from typing import Any

from conversations.models import Conversation, Customer, Message


def customer_state(closer_id: str) -> dict[str, Any]:
    customer = Customer.objects.get(closer_id=closer_id)
    conversations = []
    for conversation in (
        Conversation.objects.filter(customer=customer)
        .defer(None)  # with transcript_search, which objects otherwise leave out
        .select_related("assignee")
        .order_by("opened_at", "closed_event_ms", "created_event_ms")
    ):
        messages = [
            (m.author_role, m.author_closer_id, m.text, m.sent_at)
            for m in Message.objects.filter(conversation=conversation).order_by("sent_at", "text")
        ]
        conversations.append(
            {
                "status": conversation.status,
                "closed_type": conversation.closed_type,
                "assignee": conversation.assignee.closer_id if conversation.assignee else None,
                "opened_at": conversation.opened_at,
                "closed_at": conversation.closed_at,
                "created_event_ms": conversation.created_event_ms,
                "closed_event_ms": conversation.closed_event_ms,
                "created_event_missing": conversation.created_event_missing,
                "visitor_context": conversation.visitor_context,
                "message_count": conversation.message_count,
                "preview": conversation.preview,
                "transcript_search": conversation.transcript_search,
                "messages": messages,
            }
        )
    return {
        "details": {
            name: getattr(customer, name)
            for name in ("first_name", "last_name", "random_name", "email", "phone", "api_key")
        },
        "conversations": conversations,
    }
