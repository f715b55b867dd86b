"""The normaliser: apply a batch of Closer events to the archive.

A webhook is a batch of one; the backfill feeds thousands at a time; both
come through ``apply_events``. One batch, one transaction:

1. parse every payload (unknown types are skipped, bad ones reported);
2. upsert the batch's customers, then its advisers, locked in ``closer_id``
   order, and bump the conversations of people whose details changed
   (``people``);
3. upsert the events into the ledger (``ledger``);
4. reconcile each touched customer's conversations with the identity walk
   (``reconciling``);
5. insert the closed events' messages and refresh the summaries of the
   conversations that gained some (``transcripts``);
6. store the Insights metrics of every conversation the batch wrote and
   mark their hours' roll-ups pending (``insights.store``).

Large batches on PostgreSQL write by COPY (``conversations.bulk``); small
batches and SQLite use the ORM. Same rows, same conflict rules.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from ..insights.store import write_metrics
from ..payloads import InvalidEvent, ParsedEvent, UnknownEventType, parse_event
from .ledger import record_ledger
from .people import merge_late_advisers, upsert_people
from .reconciling import reconcile_conversations
from .transcripts import insert_messages, transcripts_of

APPLIED = "applied"
SKIPPED = "skipped"
INVALID = "invalid"


@dataclass(frozen=True)
class EventOutcome:
    status: str  # APPLIED, SKIPPED or INVALID
    reason: str = ""


@dataclass(frozen=True)
class PreparedEvent:
    """A payload read ahead of applying it (see ``prepare_event``)."""

    parsed: ParsedEvent | None  # None when the outcome is SKIPPED or INVALID
    outcome: EventOutcome


@dataclass(frozen=True)
class IncomingEvent:
    payload: Any
    inbound_event_id: int | None = None
    # prepare_event(payload), when the caller did it ahead; else done here.
    prepared: PreparedEvent | None = None


def prepare_event(payload: Any) -> PreparedEvent:
    """Parse a payload (its messages come fingerprinted).

    Pure CPU and no database: the backfill runs it on its reading thread,
    so it overlaps the database's work on the previous batch.
    """
    try:
        parsed = parse_event(payload)
    except UnknownEventType as error:
        return PreparedEvent(None, EventOutcome(SKIPPED, str(error)))
    except InvalidEvent as error:
        return PreparedEvent(None, EventOutcome(INVALID, str(error)))
    return PreparedEvent(parsed, EventOutcome(APPLIED))


@dataclass
class BatchResult:
    outcomes: list[EventOutcome] = field(default_factory=list)
    new_conversations: int = 0
    new_messages: int = 0

    def count(self, status: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)


def apply_events(
    events: Sequence[IncomingEvent], *, late_adviser_locks: bool = False
) -> BatchResult:
    """Apply a batch of events in one transaction; return one outcome each.

    Applying the same events again changes nothing. The outcome order matches
    the input order. ``late_adviser_locks``: see ``people.upsert_people``
    (the same archive either way; the backfill's appliers use it).
    """
    result = BatchResult()
    parsed: list[tuple[ParsedEvent, int | None]] = []
    for incoming in events:
        prepared = incoming.prepared or prepare_event(incoming.payload)
        result.outcomes.append(prepared.outcome)
        if prepared.parsed is not None:
            parsed.append((prepared.parsed, incoming.inbound_event_id))
    if parsed:
        with transaction.atomic():
            _apply_parsed(parsed, result, late_adviser_locks=late_adviser_locks)
    return result


def _apply_parsed(
    parsed: list[tuple[ParsedEvent, int | None]], result: BatchResult, *, late_adviser_locks: bool
) -> None:
    customers, advisers, late_advisers = upsert_people(
        customers=[(event.customer, event.occurred_ms) for event, _ in parsed],
        advisers=[
            (event.assignee, event.occurred_ms) for event, _ in parsed if event.assignee is not None
        ],
        late_adviser_locks=late_adviser_locks,
    )
    record_ledger(parsed, customers, advisers)
    customer_ids = sorted({customers[event.customer.closer_id].pk for event, _ in parsed})
    touched = {
        (customers[event.customer.closer_id].pk, event.kind, event.occurred_ms)
        for event, _ in parsed
    }
    transcripts = transcripts_of(parsed, customers)
    reconciled = reconcile_conversations(customer_ids, touched, transcripts)
    result.new_conversations += reconciled.new
    result.new_messages += insert_messages(
        transcripts, conversation_ids=reconciled.ids, created_ids=reconciled.created_ids
    )
    if late_advisers:
        merge_late_advisers(late_advisers)  # before the metrics, which read advisers
    write_metrics(reconciled.ids.values())
