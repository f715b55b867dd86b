"""The event ledger: one row per distinct (customer, kind, timestamp).

The identity walk reads a customer's ledger rows (narrow indexed columns),
never raw bodies, so a customer with a long history does not make each new
event slower. A re-delivery (same customer, kind and timestamp) replaces
its earlier copy's details: the one received last wins.
"""

from collections.abc import Iterable
from typing import Any

from django.db import connection
from django.utils import timezone

from ..bulk import stage_rows, use_copy
from ..models import Adviser, ConversationEvent, Customer
from ..payloads import ParsedEvent


def record_ledger(
    parsed: list[tuple[ParsedEvent, int | None]],
    customers: dict[str, Customer],
    advisers: dict[str, Adviser],
) -> None:
    """Upsert the ledger rows of ``parsed`` (event, inbound event id); within
    a batch, the later copy of a re-delivered event wins."""
    rows: dict[tuple[int, str, int], dict[str, Any]] = {}
    for event, inbound_event_id in parsed:
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
            "inbound_event_id": inbound_event_id,
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
