"""Reconciling: make a customer's conversation rows equal the identity walk.

After each batch, the conversations of every customer it touched must be
what ``identity.walk`` gives over all of that customer's ledger rows. Only
the segments around the batch's events can change (the walk is local), so
only those are walked, read and written.
"""

from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from ..bulk import stage_rows, use_copy
from ..identity import CLOSED, CREATED, EventPoint, Segment, conversation_key, walk, walk_order
from ..models import Conversation, ConversationEvent, ConversationStatus, DeletionReason
from ..payloads import ms_to_datetime
from .deletions import record_deletions
from .transcripts import TRANSCRIPT_DOCUMENT, Transcript, transcript_document

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
# bulk_update writes one CASE per column listing every row: chunks keep the
# statement from growing with the batch.
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


@dataclass(frozen=True)
class Reconciled:
    new: int  # conversations that did not exist before
    ids: dict[tuple[Any, ...], int]  # the id of every row this batch touched, by key
    created_ids: set[int]  # rows inserted by this batch (so without messages yet)


def reconcile_conversations(
    customer_ids: list[int],
    touched: set[tuple[int, str, int]],
    transcripts: dict[tuple[Any, ...], Transcript],
) -> Reconciled:
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
        return Reconciled(new=0, ids={}, created_ids=set())

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
        stale_ids = [row.pk for row in stale]
        # Before the delete: record_deletions also marks the rows' Insights hours.
        record_deletions(stale_ids, reason=DeletionReason.MERGED)
        Conversation.objects.filter(pk__in=stale_ids).delete()

    now = timezone.now()
    to_update: list[Conversation] = []
    to_create: list[dict[str, Any]] = []
    for key, wanted in desired.items():
        row = existing.get(key)
        if row is None:
            transcript = transcripts.get(key)
            summary = transcript.summary() if transcript else None
            to_create.append(
                {
                    **wanted,
                    "message_count": summary.message_count if summary else 0,
                    "preview": summary.preview if summary else "",
                    "transcript_text": summary.document_text if summary else None,
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
    return Reconciled(
        new=len(to_create) - len(stale), ids=ids, created_ids={row[0] for row in created}
    )


def _new_conversation(wanted: dict[str, Any]) -> Conversation:
    fields = {name: value for name, value in wanted.items() if name != "transcript_text"}
    return Conversation(**fields, transcript_search=transcript_document(wanted["transcript_text"]))


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
