"""Erasing a customer from the archive (the inbox's copies are the webhooks' part).

The customer row, their conversations (visitor context), every message in
them (transcripts, authors' e-mails and phones) and their ledger rows
(visitor context again) go; deleting the customer cascades to the rest.
"""

from dataclasses import dataclass

from django.db.models import Q

from ..models import Conversation, ConversationEvent, Customer, DeletionReason, Message
from .deletions import record_deletions


@dataclass(frozen=True)
class ArchivedCustomer:
    closer_id: str
    email: str


def customers_matching(identifier: str) -> list[ArchivedCustomer]:
    """The customers whose Closer id is ``identifier``, or whose e-mail is
    (case-insensitive); surrounding spaces are ignored, as when ids arrive."""
    identifier = identifier.strip()
    rows = Customer.objects.filter(Q(closer_id=identifier) | Q(email__iexact=identifier))
    return [
        ArchivedCustomer(closer_id, email)
        for closer_id, email in rows.order_by("closer_id").values_list("closer_id", "email")
    ]


def erase_customer_rows(*, closer_id: str) -> dict[str, int]:
    """Delete the customer and everything filed under them; return the
    number of rows removed, by kind (all zero when there is no such row)."""
    counts = {"customers": 0, "conversations": 0, "messages": 0, "conversation_events": 0}
    customer = Customer.objects.filter(closer_id=closer_id).first()
    if customer is None:
        return counts
    counts["messages"] = Message.objects.filter(conversation__customer=customer).count()
    conversation_ids = list(
        Conversation.objects.filter(customer=customer).values_list("pk", flat=True)
    )
    counts["conversations"] = record_deletions(conversation_ids, reason=DeletionReason.ERASED)
    counts["conversation_events"] = ConversationEvent.objects.filter(customer=customer).count()
    customer.delete()  # cascades to conversations, messages and ledger rows
    counts["customers"] = 1
    return counts
