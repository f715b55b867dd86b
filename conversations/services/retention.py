"""Retention: conversations past the retention period deleted or anonymised.

A conversation's period starts at its closing time, or for an open one at
its opening time (``models.RETENTION_TIME``); it is past retention when that
is before ``horizon``.

- **delete**: the conversation, its messages and its two ledger rows go (the
  ledger rows too: the identity walk would otherwise rebuild the row from
  them on the customer's next event), and each deletion is recorded for
  the deletions feed in the same transaction. A customer left with no
  conversation goes as well, with the rest of their ledger rows.
- **anonymise**: the row and its counts and times stay for statistics;
  message texts become ``REMOVED_TEXT``, the authors' e-mails and phones,
  the visitor context (of the row and of its ledger rows), the preview and
  the search document are blanked, and ``updated_at`` moves so incremental
  API clients fetch the change. A customer whose conversations are all
  anonymised is blanked too (names, alias, e-mail, phone, API key); their
  Closer id stays, as does each message's fingerprint, so that a new
  conversation still finds them and nothing is archived twice.

Work is done a batch at a time, one transaction each: at most
``batch_size`` conversations and, past the first, at most ``max_messages``
messages, so no statement touches a million rows and no lock is held for
long. Rows a worker holds right now are skipped (``skip_locked``) and taken
by the next run.
"""

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..identity import CLOSED, CREATED
from ..models import (
    RETENTION_TIME,
    Conversation,
    ConversationEvent,
    Customer,
    DeletionReason,
    Message,
)
from .deletions import record_deletions

DELETE = "delete"
ANONYMISE = "anonymise"
RETENTION_ACTIONS = (DELETE, ANONYMISE)
REMOVED_TEXT = "[removed by retention]"
DEFAULT_BATCH_SIZE = 1000
DEFAULT_MAX_MESSAGES = 50_000

_BLANK_CUSTOMER = {
    "first_name": "",
    "last_name": "",
    "random_name": "",
    "email": "",
    "phone": "",
    "api_key": "",
}
_BATCH_COLUMNS = (
    "pk",
    "customer_id",
    "closer_id",
    "created_event_ms",
    "closed_event_ms",
    "message_count",
)


@dataclass
class RetentionCounts:
    """Rows deleted or anonymised (or that would be, in a dry run), by kind."""

    conversations: int = 0
    messages: int = 0
    customers: int = 0
    conversation_events: int = 0

    def add(self, other: "RetentionCounts") -> None:
        for field in fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))

    def as_dict(self) -> dict[str, int]:
        return {field.name: getattr(self, field.name) for field in fields(self)}


def _due(horizon: datetime, action: str) -> list[QuerySet[Conversation]]:
    """The conversations retention still has to act on, as queries that each
    read a range of conversation_retention_idx: those not anonymised yet
    and, in delete mode, those an earlier anonymise mode left."""
    past = Conversation.objects.alias(retention_time=RETENTION_TIME).filter(
        retention_time__lt=horizon
    )
    if action == ANONYMISE:
        return [past.filter(anonymised_at=None)]
    return [past.filter(anonymised_at=None), past.filter(anonymised_at__isnull=False)]


def count_past_retention(*, horizon: datetime, action: str) -> RetentionCounts:
    """What ``apply_conversation_retention`` would do now: nothing is changed."""
    _check_action(action)
    counts = RetentionCounts()
    for due in _due(horizon, action):
        totals = due.aggregate(
            conversations=Count("pk"),
            messages=Coalesce(Sum("message_count"), 0),
            created=Count("created_event_ms"),
            closed=Count("closed_event_ms"),
        )
        counts.conversations += totals["conversations"]
        counts.messages += totals["messages"]
        counts.conversation_events += totals["created"] + totals["closed"]
    # Customers left with nothing (delete) or with only anonymised
    # conversations (anonymise). Their remaining ledger rows are not counted.
    kept = Conversation.objects.alias(retention_time=RETENTION_TIME).filter(
        customer=OuterRef("pk"), retention_time__gte=horizon
    )
    if action == ANONYMISE:
        kept = kept.filter(anonymised_at=None)
    touched = Q()
    for due in _due(horizon, action):
        touched |= Q(Exists(due.filter(customer=OuterRef("pk"))))
    counts.customers = Customer.objects.filter(touched).exclude(Exists(kept)).count()
    return counts


def apply_conversation_retention(
    *,
    horizon: datetime,
    action: str,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_messages: int = DEFAULT_MAX_MESSAGES,
    on_batch: Callable[[RetentionCounts], None] | None = None,
) -> RetentionCounts:
    """Delete or anonymise (``action``) every conversation past retention at
    ``horizon``, a batch per transaction; ``on_batch`` hears of each batch
    done. Return the total, by kind."""
    _check_action(action)
    if batch_size < 1 or max_messages < 1:
        raise ValueError("batch_size and max_messages must be at least 1")
    apply_batch = _delete_batch if action == DELETE else _anonymise_batch
    total = RetentionCounts()
    for due in _due(horizon, action):
        while True:
            with transaction.atomic():
                batch = _next_batch(due, batch_size, max_messages)
                if not batch:
                    break
                done = apply_batch(batch)
            total.add(done)
            if on_batch is not None:
                on_batch(done)
    return total


def _check_action(action: str) -> None:
    if action not in RETENTION_ACTIONS:
        raise ValueError(
            f"retention action {action!r} is not one of {', '.join(RETENTION_ACTIONS)}"
        )


def _next_batch(
    due: QuerySet[Conversation], batch_size: int, max_messages: int
) -> list[dict[str, Any]]:
    """Up to ``batch_size`` conversations of ``due``, locked, cut where their
    messages would pass ``max_messages`` (the first is always taken: a
    conversation is never split). Rows a worker holds are left for next time."""
    rows = list(
        due.select_for_update(skip_locked=True, of=("self",))
        .order_by()
        .values(*_BATCH_COLUMNS)[:batch_size]
    )
    batch: list[dict[str, Any]] = []
    messages = 0
    for row in rows:
        messages += row["message_count"]
        if batch and messages > max_messages:
            break
        batch.append(row)
    return batch


def _ledger_rows_of(batch: list[dict[str, Any]]) -> list[int]:
    """The ids of the ledger rows that make these conversations."""
    events: set[tuple[int, str, int]] = set()
    refs: set[tuple[int, str]] = set()
    for row in batch:
        if row["closer_id"]:
            refs.add((row["customer_id"], row["closer_id"]))
        if row["created_event_ms"] is not None:
            events.add((row["customer_id"], CREATED, row["created_event_ms"]))
        if row["closed_event_ms"] is not None:
            events.add((row["customer_id"], CLOSED, row["closed_event_ms"]))
    # Narrowed in SQL by customer (uniq_event_per_customer leads with it) and
    # timestamp, made exact here.
    candidates = ConversationEvent.objects.filter(
        customer_id__in={row["customer_id"] for row in batch}
    ).filter(
        Q(occurred_ms__in={ms for _, _, ms in events})
        | Q(conversation_ref__in={ref for _, ref in refs})
    )
    return [
        pk
        for pk, customer_id, kind, occurred_ms, ref in candidates.values_list(
            "pk", "customer_id", "kind", "occurred_ms", "conversation_ref"
        )
        if (customer_id, ref) in refs or (not ref and (customer_id, kind, occurred_ms) in events)
    ]


def _delete_batch(batch: list[dict[str, Any]]) -> RetentionCounts:
    ids = [row["pk"] for row in batch]
    # Before the delete: it also marks the Insights hours the rows counted in.
    record_deletions(ids, reason=DeletionReason.RETENTION)
    # Each of these is one DELETE ... WHERE id IN (the batch): messages and
    # ledger rows have nothing depending on them, so Django deletes them
    # without loading them.
    events, _ = ConversationEvent.objects.filter(pk__in=_ledger_rows_of(batch)).delete()
    messages, _ = Message.objects.filter(conversation_id__in=ids).delete()
    Conversation.objects.filter(pk__in=ids).delete()
    # Customers left with nothing. One a worker is writing right now is
    # skipped (its new conversation is on its way) and looked at next time.
    emptied = list(
        Customer.objects.select_for_update(skip_locked=True)
        .filter(pk__in={row["customer_id"] for row in batch})
        .exclude(Exists(Conversation.objects.filter(customer=OuterRef("pk"))))
        .values_list("pk", flat=True)
    )
    if emptied:
        leftover, _ = ConversationEvent.objects.filter(customer_id__in=emptied).delete()
        events += leftover
        Customer.objects.filter(pk__in=emptied).delete()
    return RetentionCounts(
        conversations=len(ids),
        messages=messages,
        customers=len(emptied),
        conversation_events=events,
    )


def _anonymise_batch(batch: list[dict[str, Any]]) -> RetentionCounts:
    ids = [row["pk"] for row in batch]
    now = timezone.now()
    messages = Message.objects.filter(conversation_id__in=ids).update(
        text=REMOVED_TEXT, author_email="", author_phone=""
    )
    events = ConversationEvent.objects.filter(pk__in=_ledger_rows_of(batch)).update(
        visitor_context={}
    )
    Conversation.objects.filter(pk__in=ids).update(
        visitor_context={}, preview="", transcript_search=None, anonymised_at=now, updated_at=now
    )
    customers = (
        Customer.objects.filter(pk__in={row["customer_id"] for row in batch})
        .exclude(Exists(Conversation.objects.filter(customer=OuterRef("pk"), anonymised_at=None)))
        .update(**_BLANK_CUSTOMER, updated_at=now)
    )
    return RetentionCounts(
        conversations=len(ids), messages=messages, customers=customers, conversation_events=events
    )
