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
   refresh the conversations' message counts, previews and transcript
   documents (a conversation created by this batch gets them from the
   batch's transcript directly).

Large batches on PostgreSQL write by COPY (``conversations.bulk``) rather
than ``bulk_create``: same rows, same conflict rules, a fraction of the
Python time. Small batches and SQLite use the ORM.
"""

from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.postgres.search import SearchVectorField
from django.db import connection, transaction
from django.db.models import Count, F, Func, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Left
from django.utils import timezone

from .bulk import stage_rows, use_copy
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
    ParsedMessage,
    PersonDetails,
    UnknownEventType,
    check_event,  # raises InvalidEvent/UnknownEventType exactly as apply_events would
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
    "PreparedEvent",
    "UnknownEventType",
    "apply_events",
    "check_event",
    "event_type_of",
    "prepare_event",
]

APPLIED = "applied"
SKIPPED = "skipped"
INVALID = "invalid"

# --- Transcript documents ----------------------------------------------------------
#
# ``Conversation.transcript_search`` is the text-search vector of the whole
# transcript, which the admin search matches words against (selectors). It is
# kept here explicitly, not by a trigger on the message table: this module is
# the only writer of messages (webhooks and the backfill both come through
# ``apply_events``), messages never move between conversations (a row keeps
# its closed event, and the walk deletes only open conversations, which have
# none), and they are deleted only with their conversation (erasure deletes
# the customer). Kept here, a conversation this batch creates gets its
# document in the INSERT that creates it, from the batch's transcript; a
# statement-level trigger would run after the messages' COPY and write every
# new conversation row a second time (a new tuple in each of the table's
# indexes, as the GIN-indexed column changes), doubling a backfill's
# conversation writes. Conversations that already existed are recomputed
# together with their message counts and previews.
#
# The document: the messages' texts in transcript order (sent_at, id) joined
# by spaces, unaccented, as a ``simple`` vector (see migration 0002 for why
# both), of the transcript's first 100,000 characters (some 15,000 words, far
# beyond a chat): a tsvector holds at most 1 MB, and to_tsvector raises past
# it, which would make a long conversation impossible to archive (distinct
# short words can cost 5-6 bytes of vector per character of text). Migration
# 0006 fills existing rows with the same SQL.
TRANSCRIPT_DOCUMENT = "to_tsvector('simple'::regconfig, closer_unaccent(left({text}, 100000)))"
_AGGREGATED_TRANSCRIPT = "string_agg(text, ' ' ORDER BY sent_at, id)"


class _TranscriptDocument(Func):
    template = TRANSCRIPT_DOCUMENT.format(text="%(expressions)s")
    output_field = SearchVectorField()


def _transcript_document(text: str | None) -> _TranscriptDocument | None:
    """The document of a new conversation whose transcript (joined) is
    ``text``; None without messages, and on SQLite, which has no vectors."""
    if text is None or connection.vendor != "postgresql":
        return None
    return _TranscriptDocument(Value(text))


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


def apply_events(events: Sequence[IncomingEvent]) -> BatchResult:
    """Apply a batch of events in one transaction; return one outcome each.

    Applying the same events again changes nothing. The outcome order matches
    the input order.
    """
    result = BatchResult()
    parsed: list[tuple[ParsedEvent, IncomingEvent]] = []
    for incoming in events:
        prepared = incoming.prepared or prepare_event(incoming.payload)
        result.outcomes.append(prepared.outcome)
        if prepared.parsed is not None:
            parsed.append((prepared.parsed, incoming))
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
    transcripts = _transcripts(parsed, customers)
    reconciled = _reconcile_conversations(customer_ids, touched, transcripts)
    result.new_conversations += reconciled.new
    result.new_messages += _insert_messages(transcripts, reconciled)


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
    # New people are inserted with the batch's own merged details, so a new
    # row is written once (each write also updates the admin's trigram
    # index), not inserted blank and then updated. A row that already
    # exists is left alone by the insert and merged under its lock below.
    fresh: dict[str, Any] = {closer_id: model(closer_id=closer_id) for closer_id in closer_ids}
    _merge_details(fresh, sightings)
    model.objects.bulk_create(list(fresh.values()), ignore_conflicts=True)
    rows = {
        row.closer_id: row
        for row in model.objects.select_for_update()
        .filter(closer_id__in=closer_ids)
        .order_by("closer_id")
    }
    changed, changed_fields = _merge_details(rows, sightings)
    if changed:
        now = timezone.now()
        for row in changed.values():
            row.updated_at = now
        # Every row exists and is locked by now, so this INSERT .. ON CONFLICT
        # DO UPDATE is a bulk update in one statement (bulk_update's CASE per
        # row grows quadratically with the batch).
        model.objects.bulk_create(
            list(changed.values()),
            update_conflicts=True,
            unique_fields=["closer_id"],
            update_fields=[*sorted(changed_fields), "field_times", "updated_at"],
        )
    return rows


def _merge_details(
    rows: dict[str, Any], sightings: list[tuple[PersonDetails, int]]
) -> tuple[dict[str, Any], set[str]]:
    """Apply each sighting's fields to its row where it is the newest seen
    for that field (per-field times in ``field_times``); return the rows that
    changed and the names of the fields that did."""
    changed: dict[str, Any] = {}
    changed_fields: set[str] = set()
    for details, event_ms in sightings:
        row = rows[details.closer_id]
        for name, value in details.values.items():
            if value is None:
                continue  # a missing field never erases a known one
            written_ms = row.field_times.get(name, -1)
            if event_ms < written_ms:
                continue
            if event_ms != written_ms:
                row.field_times[name] = event_ms
                changed[details.closer_id] = row
            if getattr(row, name) != value:
                setattr(row, name, value)
                changed_fields.add(name)
                changed[details.closer_id] = row
    return changed, changed_fields


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
    rows: dict[tuple[int, str, int], dict[str, Any]] = {}
    for event, incoming in parsed:
        customer_id = customers[event.customer.closer_id].pk
        rows[(customer_id, event.kind, event.occurred_ms)] = {
            "customer_id": customer_id,
            "kind": event.kind,
            "occurred_ms": event.occurred_ms,
            "conversation_ref": event.conversation_ref,
            "visitor_context": event.visitor_context,
            "closed_type": event.closed_type,
            "assignee_id": advisers[event.assignee.closer_id].pk if event.assignee else None,
            "first_message_ms": event.first_message_ms,
            "inbound_event_id": incoming.inbound_event_id,
        }
    if use_copy(len(rows)):
        _copy_ledger(rows.values())
        return
    ConversationEvent.objects.bulk_create(
        [ConversationEvent(**row) for row in rows.values()],
        update_conflicts=True,
        unique_fields=["customer", "kind", "occurred_ms"],
        update_fields=[*_LEDGER_UPDATED, "received_at"],
    )


# What a re-delivery replaces in its ledger row.
_LEDGER_UPDATED = (
    "conversation_ref",
    "visitor_context",
    "closed_type",
    "assignee_id",
    "first_message_ms",
    "inbound_event_id",
)
_LEDGER_STAGE = "conversations_conversationevent_stage"
_LEDGER_STAGE_COLUMNS = (
    ("customer_id", "bigint"),
    ("kind", "text"),
    ("occurred_ms", "bigint"),
    ("conversation_ref", "text"),
    ("visitor_context", "jsonb"),
    ("closed_type", "text"),
    ("assignee_id", "bigint"),
    ("first_message_ms", "bigint"),
    ("inbound_event_id", "bigint"),
)
_UPSERT_STAGED_LEDGER = """
    INSERT INTO {table} ({columns}, received_at)
    SELECT {columns}, %s FROM {stage}
    ON CONFLICT (customer_id, kind, occurred_ms) DO UPDATE SET {updates}, received_at = %s
""".format(  # noqa: S608 (names only, no values)
    table=ConversationEvent._meta.db_table,
    columns=", ".join(name for name, _ in _LEDGER_STAGE_COLUMNS),
    stage=_LEDGER_STAGE,
    updates=", ".join(f"{name} = EXCLUDED.{name}" for name in _LEDGER_UPDATED),
)


def _copy_ledger(rows: Iterable[dict[str, Any]]) -> None:
    stage_rows(
        stage=_LEDGER_STAGE,
        columns=_LEDGER_STAGE_COLUMNS,
        rows=(tuple(row[name] for name, _ in _LEDGER_STAGE_COLUMNS) for row in rows),
    )
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT_STAGED_LEDGER, [now, now])


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
# bulk_update writes one CASE per column listing every row, which the
# database evaluates row by row: chunks keep that from growing quadratically.
_UPDATE_CHUNK = 100
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


@dataclass(frozen=True)
class _Reconciled:
    new: int  # conversations that did not exist before
    ids: dict[tuple[Any, ...], int]  # the id of every row this batch touched, by key
    created_ids: set[int]  # rows inserted by this batch (so without messages yet)


def _reconcile_conversations(
    customer_ids: list[int],
    touched: set[tuple[int, str, int]],
    transcripts: "dict[tuple[Any, ...], _Transcript]",
) -> _Reconciled:
    """Make each customer's conversation rows equal the walk over all their events.

    ``touched`` holds the (customer, kind, timestamp) of this batch's events.
    The walk reads every ledger row of the customer, but only four narrow
    columns; the details (JSON) of events and the conversation rows are read
    only around the touched events. That is enough: the walk is local (a
    closed pairs with the point right before it iff that is a created), so a
    new point can only change the segments of itself and its two neighbours.
    A customer with a thousand conversations does not make each event slower.

    A conversation is new when its row is created, unless it replaces an
    open row: an open conversation whose created event now pairs with a
    closed one is the same conversation under a new key. A row created here
    gets its message count and preview from this batch's transcript (a
    closed event is new to the archive when its row is), which saves
    recounting it once its messages are in.
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
        return _Reconciled(new=0, ids={}, created_ids=set())

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
    to_create: list[dict[str, Any]] = []
    for key, wanted in desired.items():
        row = existing.get(key)
        if row is None:
            transcript = transcripts.get(key)
            count, preview = transcript.summary() if transcript else (0, "")
            to_create.append(
                {
                    **wanted,
                    "message_count": count,
                    "preview": preview,
                    "transcript_text": transcript.document_text() if transcript else None,
                }
            )
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
        Conversation.objects.bulk_update(
            to_update, [*_CONVERSATION_FIELDS, "updated_at"], batch_size=_UPDATE_CHUNK
        )
    ids = {key: row.pk for key, row in existing.items() if key in desired}
    if use_copy(len(to_create)):
        created = _copy_conversations(to_create)
    else:
        created = [
            (row.pk, row.customer_id, row.closer_id, row.created_event_ms, row.closed_event_ms)
            for row in Conversation.objects.bulk_create([_new_conversation(w) for w in to_create])
        ]
    for pk, customer_id, closer_id, created_ms, closed_ms in created:
        key = conversation_key(
            customer_id=customer_id, closer_id=closer_id, created_ms=created_ms, closed_ms=closed_ms
        )
        ids[key] = pk
    return _Reconciled(
        new=len(to_create) - len(stale), ids=ids, created_ids={row[0] for row in created}
    )


def _new_conversation(wanted: dict[str, Any]) -> Conversation:
    fields = {name: value for name, value in wanted.items() if name != "transcript_text"}
    return Conversation(**fields, transcript_search=_transcript_document(wanted["transcript_text"]))


_CONVERSATION_STAGE = "conversations_conversation_stage"
_CONVERSATION_STAGE_COLUMNS = (
    ("position", "integer"),
    ("customer_id", "bigint"),
    ("closer_id", "text"),
    ("status", "text"),
    ("closed_type", "text"),
    ("assignee_id", "bigint"),
    ("opened_at", "timestamptz"),
    ("closed_at", "timestamptz"),
    ("created_event_ms", "bigint"),
    ("closed_event_ms", "bigint"),
    ("created_event_missing", "boolean"),
    ("visitor_context", "jsonb"),
    ("message_count", "integer"),
    ("preview", "text"),
    ("transcript_text", "text"),  # becomes transcript_search
)
_INSERT_STAGED_CONVERSATIONS = """
    INSERT INTO {table} ({columns}, transcript_search, created_at, updated_at)
    SELECT {columns}, {document}, %s, %s FROM {stage} ORDER BY position
    RETURNING id, customer_id, closer_id, created_event_ms, closed_event_ms
""".format(  # noqa: S608 (names only, no values)
    table=Conversation._meta.db_table,
    columns=", ".join(name for name, _ in _CONVERSATION_STAGE_COLUMNS[1:-1]),
    document=TRANSCRIPT_DOCUMENT.format(text="transcript_text"),
    stage=_CONVERSATION_STAGE,
)


def _copy_conversations(wanted: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    stage_rows(
        stage=_CONVERSATION_STAGE,
        columns=_CONVERSATION_STAGE_COLUMNS,
        rows=(
            (position, *(w[name] for name, _ in _CONVERSATION_STAGE_COLUMNS[1:]))
            for position, w in enumerate(wanted)
        ),
    )
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_STAGED_CONVERSATIONS, [now, now])
        return list(cursor.fetchall())


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

_MESSAGE_COLUMNS = (
    "conversation_id",
    "author_role",
    "author_closer_id",
    "author_email",
    "author_phone",
    "text",
    "sent_ms",
    "fingerprint",
)
_MESSAGE_STAGE = "conversations_message_stage"
_MESSAGE_STAGE_COLUMNS = tuple(
    (name, "bigint" if name in ("conversation_id", "sent_ms") else "text")
    for name in _MESSAGE_COLUMNS
)


class _Transcript(dict[str, ParsedMessage]):
    """One conversation's messages in this batch, by fingerprint, in order:
    ``ParsedMessage`` rows (role, author id, author email, author phone,
    text, sent ms, fingerprint).

    A re-delivered message replaces its earlier copy in place (same identity,
    so the same row) and keeps its position.
    """

    def summary(self) -> tuple[int, str]:
        """Message count and preview, as ``_refresh_message_summaries`` computes
        them: the first customer message by (time, insertion order), else the
        first message, cut to 200 characters."""
        order = {fingerprint: index for index, fingerprint in enumerate(self)}
        first = min(
            self.values(),
            key=lambda row: (row[0] != MessageRole.CUSTOMER, row[5], order[row[6]]),
            default=None,
        )
        return len(self), (first[4][:200] if first else "")

    def document_text(self) -> str:
        """The texts joined in transcript order, as ``TRANSCRIPT_DOCUMENT``
        aggregates them over stored rows: by time, then by insertion order
        (the id order these rows get), which the stable sort keeps on ties."""
        return " ".join(row.text for row in sorted(self.values(), key=lambda row: row.sent_ms))


def _transcripts(
    parsed: list[tuple[ParsedEvent, IncomingEvent]], customers: dict[str, Customer]
) -> dict[tuple[Any, ...], _Transcript]:
    """The closed events' messages, by the ``conversation_key`` they belong to."""
    transcripts: dict[tuple[Any, ...], _Transcript] = defaultdict(_Transcript)
    for event, _ in parsed:
        if event.kind != CLOSED or not event.messages:
            continue
        transcript = transcripts[
            conversation_key(
                customer_id=customers[event.customer.closer_id].pk,
                closer_id=event.conversation_ref,
                created_ms=None,
                closed_ms=event.occurred_ms,
            )
        ]
        for message in event.messages:
            transcript[message.fingerprint] = message
    return transcripts


def _insert_messages(
    transcripts: dict[tuple[Any, ...], _Transcript], reconciled: _Reconciled
) -> int:
    """Store the transcripts; return how many messages were new.

    Conversations created by this batch already carry their count and
    preview; the others are recounted once their new messages are in.
    """
    fresh_rows: list[tuple[Any, ...]] = []
    known_rows: list[tuple[Any, ...]] = []
    for key, transcript in transcripts.items():
        conversation_id = reconciled.ids[key]
        rows = fresh_rows if conversation_id in reconciled.created_ids else known_rows
        rows.extend((conversation_id, *row) for row in transcript.values())
    if use_copy(len(fresh_rows) + len(known_rows)):
        _copy_messages(fresh_rows, known_rows)
    else:
        Message.objects.bulk_create(
            [
                Message(
                    conversation_id=row[0],
                    author_role=row[1],
                    author_closer_id=row[2],
                    author_email=row[3],
                    author_phone=row[4],
                    text=row[5],
                    sent_at=ms_to_datetime(row[6]),
                    fingerprint=row[7],
                )
                for row in [*fresh_rows, *known_rows]
            ],
            ignore_conflicts=True,
        )
    if not known_rows:
        return len(fresh_rows)
    return len(fresh_rows) + _refresh_message_summaries(sorted({row[0] for row in known_rows}))


def _copy_messages(fresh: list[tuple[Any, ...]], known: list[tuple[Any, ...]]) -> None:
    """COPY the messages of conversations this batch created straight into
    the table: they cannot conflict (deduplicated above, and the conversation
    had no messages before). Stage the rest and insert those not stored yet.
    INSERT .. ON CONFLICT costs several times a plain COPY, and in a backfill
    nearly every message belongs to a conversation just created.
    """
    if fresh:
        with connection.cursor() as cursor, cursor.cursor.copy(_COPY_MESSAGES) as copy:
            copy.set_types(_COPY_MESSAGES_TYPES)
            for row in fresh:
                copy.write_row((*row[:6], (row[6] - _POSTGRES_EPOCH_MS) * 1000, row[7]))
    if known:
        stage_rows(stage=_MESSAGE_STAGE, columns=_MESSAGE_STAGE_COLUMNS, rows=known)
        with connection.cursor() as cursor:
            cursor.execute(_INSERT_STAGED_MESSAGES)


# Binary: no text escaping in Python, no timestamp parsing in the server.
_COPY_MESSAGES = "COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)".format(
    table=Message._meta.db_table, columns=", ".join(_MESSAGE_COLUMNS).replace("sent_ms", "sent_at")
)
# sent_at goes out as int8: in binary COPY a timestamptz is an int64 count of
# microseconds since 2000-01-01 UTC, the same 8 bytes, so the server reads
# the same value without a datetime built and dumped per message.
_COPY_MESSAGES_TYPES = [sql_type for _, sql_type in _MESSAGE_STAGE_COLUMNS]
_POSTGRES_EPOCH_MS = 946_684_800_000  # 2000-01-01T00:00:00Z in Unix epoch milliseconds
# Epoch milliseconds to timestamptz in exact integer arithmetic.
_SENT_AT = "TIMESTAMPTZ 'epoch' + sent_ms * INTERVAL '1 millisecond'"
_INSERT_STAGED_MESSAGES = (
    "INSERT INTO {table} ({columns}) SELECT {values} FROM {stage} {conflict}".format(  # noqa: S608 (names only, no values)
        table=Message._meta.db_table,
        columns=", ".join(_MESSAGE_COLUMNS).replace("sent_ms", "sent_at"),
        values=", ".join(_MESSAGE_COLUMNS).replace("sent_ms", _SENT_AT),
        stage=_MESSAGE_STAGE,
        conflict="ON CONFLICT (conversation_id, fingerprint) DO NOTHING",
    )
)


def _refresh_message_summaries(conversation_ids: list[int]) -> int:
    """Recount messages and recompute previews (and, on PostgreSQL, transcript
    documents); return how many messages are new.

    The preview is the first customer message (the first of any role when
    the customer never wrote), cut to 200 characters.
    """
    if connection.vendor == "postgresql":
        return _refresh_summaries_in_one_pass(conversation_ids)
    conversations = Conversation.objects.filter(pk__in=conversation_ids)
    before = conversations.aggregate(total=Coalesce(Sum("message_count"), 0))["total"]
    fresh_count = Coalesce(Subquery(_message_total()), 0)
    fresh_preview = Left(
        Coalesce(
            Subquery(_first_message_text(MessageRole.CUSTOMER)),
            Subquery(_first_message_text()),
            Value(""),
        ),
        200,
    )
    conversations.annotate(fresh_count=fresh_count, fresh_preview=fresh_preview).exclude(
        message_count=F("fresh_count"), preview=F("fresh_preview")
    ).update(message_count=fresh_count, preview=fresh_preview, updated_at=timezone.now())
    after = conversations.aggregate(total=Coalesce(Sum("message_count"), 0))["total"]
    return int(after - before)


def _refresh_summaries_in_one_pass(conversation_ids: list[int]) -> int:
    """The same on PostgreSQL as one set-based UPDATE: the correlated
    subqueries above cost several index scans per conversation, which at
    50,000 conversations a minute is most of a backfill's database time."""
    conversation_table = Conversation._meta.db_table
    message_table = Message._meta.db_table
    document = TRANSCRIPT_DOCUMENT.format(text=_AGGREGATED_TRANSCRIPT)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH fresh AS (
                SELECT conversation_id,
                       count(*) AS total,
                       left(coalesce(
                           (array_agg(text ORDER BY sent_at, id)
                               FILTER (WHERE author_role = %(customer)s))[1],
                           (array_agg(text ORDER BY sent_at, id))[1],
                           ''), 200) AS preview,
                       {document} AS document
                FROM {message_table}
                WHERE conversation_id = ANY(%(ids)s)
                GROUP BY conversation_id
            ), old AS (
                SELECT id, message_count FROM {conversation_table} WHERE id = ANY(%(ids)s)
            )
            UPDATE {conversation_table} AS c
            SET message_count = fresh.total, preview = fresh.preview,
                transcript_search = fresh.document, updated_at = %(now)s
            FROM fresh JOIN old ON old.id = fresh.conversation_id
            WHERE c.id = fresh.conversation_id
              AND (c.message_count <> fresh.total OR c.preview <> fresh.preview
                   OR c.transcript_search IS DISTINCT FROM fresh.document)
            RETURNING fresh.total - old.message_count
            """,  # noqa: S608 (table names come from the models, values are parameters)
            {
                "ids": conversation_ids,
                "customer": MessageRole.CUSTOMER.value,
                "now": timezone.now(),
            },
        )
        return sum(added for (added,) in cursor.fetchall())


def _message_total() -> Any:
    return (
        Message.objects.filter(conversation=OuterRef("pk"))
        .order_by()
        .values("conversation")
        .annotate(total=Count("id"))
        .values("total")
    )


def _first_message_text(role: str | None = None) -> Any:
    """The preview: the first message of ``role`` (of any role when None)."""
    messages = Message.objects.filter(conversation=OuterRef("pk"))
    if role is not None:
        messages = messages.filter(author_role=role)
    return messages.order_by("sent_at", "id").values("text")[:1]
