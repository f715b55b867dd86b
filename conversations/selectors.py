"""Reads of the archive shared by admin and the REST API."""

from django.db.models import Q, QuerySet

from .models import Conversation, Message


def search_conversations(
    *, query: str, queryset: QuerySet[Conversation] | None = None
) -> QuerySet[Conversation]:
    """Conversations matching ``query`` in customer, adviser or transcript.

    The one place that decides how search works (admin and API both call it).
    """
    conversations = Conversation.objects.all() if queryset is None else queryset
    words = query.strip()
    if not words:
        return conversations
    matching_messages = Message.objects.filter(text__icontains=words).values("conversation_id")
    return conversations.filter(
        Q(customer__closer_id__icontains=words)
        | Q(customer__first_name__icontains=words)
        | Q(customer__last_name__icontains=words)
        | Q(customer__random_name__icontains=words)
        | Q(customer__email__icontains=words)
        | Q(customer__phone__icontains=words)
        | Q(assignee__closer_id__icontains=words)
        | Q(assignee__first_name__icontains=words)
        | Q(assignee__last_name__icontains=words)
        | Q(assignee__email__icontains=words)
        | Q(pk__in=matching_messages)
    )


def transcript(*, conversation: Conversation) -> QuerySet[Message]:
    return Message.objects.filter(conversation=conversation).order_by("sent_at", "id")
