"""Erasing a customer from the archive (the inbox's copies are the webhooks' part).

The customer row, their conversations (visitor context, preview and the
transcript's search document, which live on the row), every message in them
(transcripts, authors' e-mails and phones) and their ledger rows (visitor
context again) go; deleting the customer cascades to the rest. Around them:

- the admin's history (``LogEntry``) keeps its rows, so it still shows that
  something happened, but not the customer: the object's name and the
  change message of every entry about them, their conversations or messages
  are blanked (``scrub_admin_history``);
- a message of theirs filed in another customer's conversation (Closer
  sends one visitor per thread, so only if a payload says so) loses its
  author e-mail and phone;
- the admin's cached list-filter answers are dropped once the erasure
  commits (``selectors.forget_cached_choices``).

The search documents (``Conversation.transcript_search``) are columns of the
conversation rows and go with them; nothing else holds transcript text.
"""

from dataclasses import dataclass
from typing import Any

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import CharField, F, Q, QuerySet
from django.db.models.functions import Cast

from ..models import Conversation, ConversationEvent, Customer, DeletionReason, Message, MessageRole
from ..selectors import forget_cached_choices
from .deletions import record_deletions

# What an admin history entry about an erased customer's data still says.
ERASED_LOG_REPR = "(erased)"
# The archive's tables an erasure deletes from or blanks (their planner
# statistics are refreshed afterwards: see webhooks/erasure.py).
ERASED_TABLES = tuple(
    model._meta.db_table for model in (Customer, Conversation, Message, ConversationEvent)
)


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
    """Delete the customer and everything filed under them, and blank what
    names them elsewhere in the archive; return the number of rows removed
    or blanked, by kind (all zero when there is no such row)."""
    counts = {
        "customers": 0,
        "conversations": 0,
        "messages": 0,
        "conversation_events": 0,
        "messages_in_other_conversations": 0,
        "admin_log_entries": 0,
    }
    customer = Customer.objects.filter(closer_id=closer_id).first()
    if customer is None:
        return counts
    conversations = Conversation.objects.filter(customer=customer)
    messages = Message.objects.filter(conversation__customer=customer)
    counts["messages_in_other_conversations"] = _blank_authorship_elsewhere(customer)
    counts["admin_log_entries"] = (
        scrub_admin_history(objects=Customer.objects.filter(pk=customer.pk))
        + scrub_admin_history(objects=conversations)
        + scrub_admin_history(objects=messages)
    )
    counts["messages"] = messages.count()
    conversation_ids = list(conversations.values_list("pk", flat=True))
    counts["conversations"] = record_deletions(conversation_ids, reason=DeletionReason.ERASED)
    counts["conversation_events"] = ConversationEvent.objects.filter(customer=customer).count()
    customer.delete()  # cascades to conversations, messages and ledger rows
    counts["customers"] = 1
    # After the commit: a rolled-back (or dry) erasure leaves the cache alone.
    transaction.on_commit(forget_cached_choices)
    return counts


def scrub_admin_history(*, objects: QuerySet[Any]) -> int:
    """Blank the object name and change message of the admin history entries
    about ``objects`` (one UPDATE); the entries stay, so the history still
    shows who did what kind of thing when. Return how many."""
    content_type = ContentType.objects.get_for_model(objects.model)
    # LogEntry.object_id is text: compare with the ids as text, in a subquery.
    object_ids = (
        objects.order_by()
        .annotate(_logged_id=Cast("pk", output_field=CharField()))
        .values("_logged_id")
    )
    return LogEntry.objects.filter(content_type=content_type, object_id__in=object_ids).update(
        object_repr=ERASED_LOG_REPR, change_message=""
    )


def _blank_authorship_elsewhere(customer: Customer) -> int:
    """Blank the author e-mail and phone of the customer's messages filed in
    other customers' conversations; return how many.

    Found by e-mail (the customer's, and the ones their own messages carry),
    not by author id: Closer's documented payloads give every author the
    nil UUID. A message whose author e-mail is that conversation's own
    customer's belongs to that customer (two customers may share an
    address) and stays. The author id stays too: it is part of the
    message's identity, so a re-delivery of the other conversation is still
    recognised and does not add the message again.
    """
    emails = {customer.email.lower()} if customer.email else set()
    emails.update(
        email.lower()
        for email in Message.objects.filter(
            conversation__customer=customer, author_role=MessageRole.CUSTOMER
        )
        .exclude(author_email="")
        .values_list("author_email", flat=True)
        .distinct()
    )
    if not emails:
        return 0
    named = Q()
    for email in sorted(emails):
        named |= Q(author_email__iexact=email)
    elsewhere = (
        Message.objects.filter(named)
        .exclude(conversation__customer=customer)
        .exclude(conversation__customer__email__iexact=F("author_email"))
    )
    return elsewhere.update(author_email="", author_phone="")
