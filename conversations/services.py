"""The normaliser: apply a batch of Closer events to the archive.

``apply_events`` is the one public entry point. A webhook is a batch of one;
the backfill command feeds thousands at a time; both take this code path.

One batch, one transaction:

1. parse every payload (unknown types are skipped, bad ones reported);
2. lock the batch's customers, then its advisers, each in ``closer_id`` order,
   so two workers never interleave on one customer and concurrent batches
   cannot deadlock (everyone takes the locks in the same order);
3. merge customer/adviser details field by field, newest event time wins;
4. upsert the events into the ``ConversationEvent`` ledger (a re-delivery
   replaces its earlier copy);
5. for each customer touched, walk all of their ledger rows (indexed columns,
   never raw bodies) and reconcile the conversation rows with the walk;
6. insert the closed events' messages, ignoring ones already stored, and
   refresh the conversations' message counts and previews.
"""

from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from .identity import CLOSED, CREATED, EventPoint, Segment, walk, walk_order
from .models import (
    Adviser,
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Customer,
    Message,
    MessageRole,
)
from .payloads import (
    InvalidEvent,
    ParsedEvent,
    PersonDetails,
    UnknownEventType,
    event_type_of,
    ms_to_datetime,
    parse_event,
)

__all__ = [
    "APPLIED",
    "INVALID",
    "SKIPPED",
    "BatchResult",
    "EventOutcome",
    "IncomingEvent",
    "InvalidEvent",
    "UnknownEventType",
    "apply_events",
    "check_event",
    "event_type_of",
]

APPLIED = "applied"
SKIPPED = "skipped"
INVALID = "invalid"


@dataclass(frozen=True)
class IncomingEvent:
    payload: Any
    inbound_event_id: int | None = None


@dataclass(frozen=True)
class EventOutcome:
    status: str  # APPLIED, SKIPPED or INVALID
    reason: str = ""


@dataclass
class BatchResult:
    outcomes: list[EventOutcome] = field(default_factory=list)
    new_conversations: int = 0
    new_messages: int = 0

    def count(self, status: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)


def check_event(payload: Any) -> None:
    """Raise InvalidEvent/UnknownEventType exactly as apply_events would."""
    parse_event(payload)


def apply_events(events: Sequence[IncomingEvent]) -> BatchResult:
    """Apply a batch of events in one transaction; return one outcome each.

    Applying the same events again changes nothing. The outcome order matches
    the input order.
    """
    result = BatchResult()
    parsed: list[tuple[ParsedEvent, IncomingEvent]] = []
    for incoming in events:
        try:
            parsed.append((parse_event(incoming.payload), incoming))
            result.outcomes.append(EventOutcome(APPLIED))
        except UnknownEventType as error:
            result.outcomes.append(EventOutcome(SKIPPED, str(error)))
        except InvalidEvent as error:
            result.outcomes.append(EventOutcome(INVALID, str(error)))
    if parsed:
        with transaction.atomic():
            _apply_parsed(parsed, result)
    return result


def _apply_parsed(parsed: list[tuple[ParsedEvent, IncomingEvent]], result: BatchResult) -> None:
    customers = _upsert_people(
        Customer, [(event.customer, event.occurred_ms) for event, _ in parsed]
    )
    advisers = _upsert_people(
        Adviser,
        [(event.assignee, event.occurred_ms) for event, _ in parsed if event.assignee is not None],
    )
    _record_ledger(parsed, customers, advisers)
    customer_ids = sorted({customers[event.customer.closer_id].pk for event, _ in parsed})
    touched = {
        (customers[event.customer.closer_id].pk, event.kind, event.occurred_ms)
        for event, _ in parsed
    }
    result.new_conversations += _reconcile_conversations(customer_ids, touched)
    result.new_messages += _insert_messages(parsed, customers)


# --- Customers and advisers ------------------------------------------------------


def _upsert_people(
    model: type[Customer | Adviser], sightings: list[tuple[PersonDetails, int]]
) -> dict[str, Any]:
    """Create missing rows, lock all of them, merge details newest-first.

    The lock is what serialises two workers on one customer: the second
    waits here until the first commits. Rows are created and locked in
    closer_id order so batches spanning many customers cannot deadlock.
    """
    if not sightings:
        return {}
    closer_ids = sorted({details.closer_id for details, _ in sightings})
    new_rows: list[Any] = [model(closer_id=closer_id) for closer_id in closer_ids]
    model.objects.bulk_create(new_rows, ignore_conflicts=True)
    rows = {
        row.closer_id: row
        for row in model.objects.select_for_update()
        .filter(closer_id__in=closer_ids)
        .order_by("closer_id")
    }
    changed: dict[str, Any] = {}
    changed_fields: set[str] = set()
    for details, event_ms in sightings:
        row = rows[details.closer_id]
        for name, value in details.values.items():
            if value is None:
                continue  # a missing field never erases a known one
            written_ms = row.field_times.get(name, -1)
            if event_ms >= written_ms:
                row.field_times[name] = event_ms
                if getattr(row, name) != value:
                    setattr(row, name, value)
                    changed_fields.add(name)
                changed[details.closer_id] = row
    if changed:
        now = timezone.now()
        for row in changed.values():
            row.updated_at = now
        model.objects.bulk_update(
            list(changed.values()), [*sorted(changed_fields), "field_times", "updated_at"]
        )
    return rows


# --- The event ledger ------------------------------------------------------------


def _record_ledger(
    parsed: list[tuple[ParsedEvent, IncomingEvent]],
    customers: dict[str, Customer],
    advisers: dict[str, Adviser],
) -> None:
    """Upsert one ledger row per distinct (customer, kind, timestamp).

    A re-delivery replaces the earlier copy's details: the one received last
    wins (within a batch, the later one in the batch).
    """
    rows: dict[tuple[int, str, int], ConversationEvent] = {}
    for event, incoming in parsed:
        customer = customers[event.customer.closer_id]
        assignee = advisers[event.assignee.closer_id] if event.assignee else None
        rows[(customer.pk, event.kind, event.occurred_ms)] = ConversationEvent(
            customer=customer,
            kind=event.kind,
            occurred_ms=event.occurred_ms,
            conversation_ref=event.conversation_ref,
            visitor_context=event.visitor_context,
            closed_type=event.closed_type,
            assignee=assignee,
            first_message_ms=event.first_message_ms,
            inbound_event_id=incoming.inbound_event_id,
        )
    ConversationEvent.objects.bulk_create(
        list(rows.values()),
        update_conflicts=True,
        unique_fields=["customer", "kind", "occurred_ms"],
        update_fields=[
            "conversation_ref",
            "visitor_context",
            "closed_type",
            "assignee",
            "first_message_ms",
            "inbound_event_id",
            "received_at",
        ],
    )


# --- Conversations: the walk, reconciled with the stored rows ----------------------

_LEDGER_COLUMNS = (
    "id",
    "customer_id",
    "kind",
    "occurred_ms",
    "conversation_ref",
    "visitor_context",
    "closed_type",
    "assignee_id",
    "first_message_ms",
)
_CONVERSATION_FIELDS = (
    "closer_id",
    "status",
    "closed_type",
    "assignee_id",
    "opened_at",
    "closed_at",
    "created_event_ms",
    "closed_event_ms",
    "created_event_missing",
    "visitor_context",
)


def conversation_key(
    *, customer_id: int, closer_id: str, created_ms: int | None, closed_ms: int | None
) -> tuple[Any, ...]:
    """What a conversation row is keyed by: explicit id, else closed, else created."""
    if closer_id:
        return ("ref", closer_id)
    if closed_ms is not None:
        return (customer_id, CLOSED, closed_ms)
    return (customer_id, CREATED, created_ms)


def _reconcile_conversations(customer_ids: list[int], touched: set[tuple[int, str, int]]) -> int:
    """Make each customer's conversation rows equal the walk over all their events.

    ``touched`` holds the (customer, kind, timestamp) of this batch's events.
    The walk reads every ledger row of the customer, but only four narrow
    columns; the details (JSON) of events and the conversation rows are read
    only around the touched events. That is enough: the walk is local (a
    closed pairs with the point right before it iff that is a created), so a
    new point can only change the segments of itself and its two neighbours.
    A customer with a thousand conversations does not make each event slower.

    Returns how many conversation rows were created.
    """
    points: dict[int, list[tuple[int, str, int]]] = defaultdict(list)
    named: dict[str, list[EventPoint]] = defaultdict(list)
    ref_owner: dict[str, int] = {}
    touched_refs: set[str] = set()
    # In walk order ("-kind": 'created' sorts after 'closed', so it comes first).
    for customer_id, event_id, kind, occurred_ms, ref in (
        ConversationEvent.objects.filter(customer_id__in=customer_ids)
        .order_by("customer_id", "occurred_ms", "-kind")
        .values_list("customer_id", "id", "kind", "occurred_ms", "conversation_ref")
    ):
        if ref:
            named[ref].append(EventPoint(kind, occurred_ms, event_id))
            ref_owner[ref] = customer_id
            if (customer_id, kind, occurred_ms) in touched:
                touched_refs.add(ref)
        else:
            points[customer_id].append((event_id, kind, occurred_ms))

    affected: list[tuple[int, str, Segment]] = []
    for customer_id in customer_ids:
        affected += [
            (customer_id, "", segment)
            for segment in _segments_near(customer_id, points[customer_id], touched)
        ]
    for ref in sorted(touched_refs):
        affected.append((ref_owner[ref], ref, _named_segment(named[ref])))
    if not affected:
        return 0

    details = {
        row["id"]: row
        for row in ConversationEvent.objects.filter(
            pk__in=[p.key for _, _, s in affected for p in (s.created, s.closed) if p]
        ).values(*_LEDGER_COLUMNS)
    }
    desired: dict[tuple[Any, ...], dict[str, Any]] = {}
    for customer_id, ref, segment in affected:
        wanted = _conversation_fields(
            ref,
            details[segment.created.key] if segment.created else None,
            details[segment.closed.key] if segment.closed else None,
        )
        key = conversation_key(
            customer_id=customer_id,
            closer_id=ref,
            created_ms=wanted["created_event_ms"],
            closed_ms=wanted["closed_event_ms"],
        )
        desired[key] = {"customer_id": customer_id, **wanted}

    existing = _rows_touching(customer_ids, affected, touched)
    stale = [row for key, row in existing.items() if key not in desired]
    for stale_row in stale:
        # Only an open conversation can lose its identity (its created event
        # paired with a closed one); it never has messages. Anything else is
        # a bug: refuse rather than delete a transcript.
        if stale_row.closed_event_ms is not None or stale_row.message_count:
            raise RuntimeError(f"refusing to delete {stale_row}: it holds a closed event")
    if stale:
        Conversation.objects.filter(pk__in=[row.pk for row in stale]).delete()

    now = timezone.now()
    to_update: list[Conversation] = []
    to_create: list[Conversation] = []
    for key, wanted in desired.items():
        row = existing.get(key)
        if row is None:
            to_create.append(Conversation(**wanted))
            continue
        if any(getattr(row, name) != wanted[name] for name in _CONVERSATION_FIELDS):
            for name in _CONVERSATION_FIELDS:
                setattr(row, name, wanted[name])
            row.updated_at = now
            to_update.append(row)
    if to_update:
        # A re-pairing can hand a created event from one row to another; free
        # the unique (customer, created_event_ms) slots before refilling them.
        Conversation.objects.filter(pk__in=[row.pk for row in to_update]).update(
            created_event_ms=None
        )
        Conversation.objects.bulk_update(to_update, [*_CONVERSATION_FIELDS, "updated_at"])
    Conversation.objects.bulk_create(to_create)
    return len(to_create)


def _segments_near(
    customer_id: int, ordered: list[tuple[int, str, int]], touched: set[tuple[int, str, int]]
) -> list[Segment]:
    """The walk's segments that contain a touched point or a neighbour of one.

    ``ordered`` is the customer's (id, kind, timestamp) in walk order. Only a
    window is walked: from two points before the first touched point to two
    after the last. The window's edge points may lack their outer neighbour,
    so their own segment can come out wrong, but such a segment holds only
    the edge point, which is two away from any touched point: never "near".
    """
    positions = [i for i, (_, kind, ms) in enumerate(ordered) if (customer_id, kind, ms) in touched]
    if not positions:
        return []
    first, last = max(positions[0] - 2, 0), positions[-1] + 2
    window = [EventPoint(kind, ms, event_id) for event_id, kind, ms in ordered[first : last + 1]]
    near: set[Hashable] = set()
    for i in positions:
        near.update(event_id for event_id, _, _ in ordered[max(i - 1, 0) : i + 2])
    return [
        segment
        for segment in walk(window)
        if any(p is not None and p.key in near for p in (segment.created, segment.closed))
    ]


def _named_segment(points: list[EventPoint]) -> Segment:
    """Events that name their conversation: earliest created, latest closed."""
    created = [p for p in points if p.kind == CREATED]
    closed = [p for p in points if p.kind == CLOSED]
    return Segment(
        created=min(created, key=walk_order, default=None),
        closed=max(closed, key=walk_order, default=None),
    )


def _rows_touching(
    customer_ids: list[int],
    affected: list[tuple[int, str, Segment]],
    touched: set[tuple[int, str, int]],
) -> dict[tuple[Any, ...], Conversation]:
    """The stored conversations that hold any event of the affected segments."""
    refs = {ref for _, ref, _ in affected if ref}
    event_keys = {(c, kind, ms) for c, kind, ms in touched}
    for customer_id, ref, segment in affected:
        if not ref:
            event_keys.update(
                (customer_id, p.kind, p.occurred_ms) for p in (segment.created, segment.closed) if p
            )
    created_ms = {ms for _, kind, ms in event_keys if kind == CREATED}
    closed_ms = {ms for _, kind, ms in event_keys if kind == CLOSED}
    rows = Conversation.objects.filter(customer_id__in=customer_ids).filter(
        Q(closer_id__in=refs)
        | Q(closer_id="", created_event_ms__in=created_ms)
        | Q(closer_id="", closed_event_ms__in=closed_ms)
    )
    existing = {}
    for row in rows:
        holds = (row.customer_id, CREATED, row.created_event_ms) in event_keys or (
            row.customer_id,
            CLOSED,
            row.closed_event_ms,
        ) in event_keys
        if row.closer_id or holds:  # the ms sets span customers: keep exact matches
            key = conversation_key(
                customer_id=row.customer_id,
                closer_id=row.closer_id,
                created_ms=row.created_event_ms,
                closed_ms=row.closed_event_ms,
            )
            existing[key] = row
    return existing


def _conversation_fields(
    ref: str, created: dict[str, Any] | None, closed: dict[str, Any] | None
) -> dict[str, Any]:
    if created is not None:
        opened_ms = created["occurred_ms"]
    else:
        assert closed is not None
        opened_ms = closed["first_message_ms"]
        if opened_ms is None:
            opened_ms = closed["occurred_ms"]
    context_source = created if created is not None else closed
    assert context_source is not None
    return {
        "closer_id": ref,
        "status": ConversationStatus.CLOSED if closed else ConversationStatus.OPEN,
        "closed_type": closed["closed_type"] if closed else "",
        "assignee_id": closed["assignee_id"] if closed else None,
        "opened_at": ms_to_datetime(opened_ms),
        "closed_at": ms_to_datetime(closed["occurred_ms"]) if closed else None,
        "created_event_ms": created["occurred_ms"] if created else None,
        "closed_event_ms": closed["occurred_ms"] if closed else None,
        "created_event_missing": closed is not None and created is None,
        "visitor_context": context_source["visitor_context"],
    }


# --- Messages --------------------------------------------------------------------


def _insert_messages(
    parsed: list[tuple[ParsedEvent, IncomingEvent]], customers: dict[str, Customer]
) -> int:
    """Store the closed events' transcripts; return how many messages were new."""
    closed_events = [event for event, _ in parsed if event.kind == CLOSED and event.messages]
    if not closed_events:
        return 0
    wanted_keys = {
        conversation_key(
            customer_id=customers[event.customer.closer_id].pk,
            closer_id=event.conversation_ref,
            created_ms=None,
            closed_ms=event.occurred_ms,
        )
        for event in closed_events
    }
    conversation_ids = _conversation_ids_for(wanted_keys)

    messages: dict[tuple[int, str], Message] = {}
    for event in closed_events:
        key = conversation_key(
            customer_id=customers[event.customer.closer_id].pk,
            closer_id=event.conversation_ref,
            created_ms=None,
            closed_ms=event.occurred_ms,
        )
        conversation_id = conversation_ids[key]
        for message in event.messages:
            fingerprint = message.fingerprint
            messages[(conversation_id, fingerprint)] = Message(
                conversation_id=conversation_id,
                author_role=message.author_role,
                author_closer_id=message.author_closer_id,
                author_email=message.author_email,
                author_phone=message.author_phone,
                text=message.text,
                sent_at=ms_to_datetime(message.sent_ms),
                fingerprint=fingerprint,
            )
    Message.objects.bulk_create(list(messages.values()), ignore_conflicts=True)
    return _refresh_message_summaries(sorted(set(conversation_ids.values())))


def _conversation_ids_for(keys: set[tuple[Any, ...]]) -> dict[tuple[Any, ...], int]:
    refs = [key[1] for key in keys if key[0] == "ref"]
    by_closed = [key for key in keys if key[0] != "ref"]
    condition = Q(closer_id__in=refs) if refs else Q(pk__in=[])
    for customer_id, _, closed_ms in by_closed:
        condition |= Q(customer_id=customer_id, closed_event_ms=closed_ms, closer_id="")
    ids = {}
    for row in Conversation.objects.filter(condition).values(
        "id", "customer_id", "closer_id", "closed_event_ms"
    ):
        key = conversation_key(
            customer_id=row["customer_id"],
            closer_id=row["closer_id"],
            created_ms=None,
            closed_ms=row["closed_event_ms"],
        )
        ids[key] = row["id"]
    return ids


def _refresh_message_summaries(conversation_ids: list[int]) -> int:
    """Recount messages and recompute previews; return how many are new."""
    first_customer_text = (
        Message.objects.filter(conversation=OuterRef("pk"), author_role=MessageRole.CUSTOMER)
        .order_by("sent_at", "id")
        .values("text")[:1]
    )
    message_total = (
        Message.objects.filter(conversation=OuterRef("pk"))
        .order_by()
        .values("conversation")
        .annotate(total=Count("id"))
        .values("total")
    )
    rows = list(
        Conversation.objects.filter(pk__in=conversation_ids)
        .only("id", "message_count", "preview")
        .annotate(
            fresh_count=Coalesce(Subquery(message_total), 0),
            fresh_preview=Coalesce(Subquery(first_customer_text), Subquery(_first_message_text())),
        )
    )
    added = 0
    changed = []
    now = timezone.now()
    for row in rows:
        preview = (row.fresh_preview or "")[:200]
        if row.fresh_count != row.message_count or preview != row.preview:
            added += row.fresh_count - row.message_count
            row.message_count = row.fresh_count
            row.preview = preview
            row.updated_at = now
            changed.append(row)
    Conversation.objects.bulk_update(changed, ["message_count", "preview", "updated_at"])
    return added


def _first_message_text() -> Any:
    """Fallback preview: the first message of any role."""
    return (
        Message.objects.filter(conversation=OuterRef("pk"))
        .order_by("sent_at", "id")
        .values("text")[:1]
    )
