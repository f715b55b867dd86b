"""The archive's published interface: what ``webhooks`` and ``backfill`` may call.

Writing goes through one function, ``apply_events`` (webhooks and the
backfill both use it). The rest reads payloads without touching the
database (to answer a webhook or screen a dump record before it is
applied), erases a customer's archive rows, and writes the archive back
out as Closer events. Whatever deletes conversations calls
``record_deletions`` before the delete (it also marks their Insights hours
for ``refresh_rollups``); whatever changes a kept conversation's messages
outside ``apply_events`` calls ``write_metrics(ids)`` after. The modules
of this package are private to ``conversations``: import-linter holds the
other apps to this file.
"""

from ..closer_events import closer_events
from ..insights.store import forget_conversations, refresh_rollups, write_metrics
from ..payloads import (
    KNOWN_EVENT_TYPES,
    InvalidEvent,
    UnknownEventType,
    check_event,
    customer_id_of,
    datetime_to_ms,
    event_type_of,
    storable,
)
from .deletions import record_deletions
from .erasure import ArchivedCustomer, customers_matching, erase_customer_rows
from .normaliser import (
    APPLIED,
    INVALID,
    SKIPPED,
    BatchResult,
    EventOutcome,
    IncomingEvent,
    PreparedEvent,
    apply_events,
    prepare_event,
)

__all__ = [
    "APPLIED",
    "INVALID",
    "KNOWN_EVENT_TYPES",
    "SKIPPED",
    "ArchivedCustomer",
    "BatchResult",
    "EventOutcome",
    "IncomingEvent",
    "InvalidEvent",
    "PreparedEvent",
    "UnknownEventType",
    "apply_events",
    "check_event",
    "closer_events",
    "customer_id_of",
    "customers_matching",
    "datetime_to_ms",
    "erase_customer_rows",
    "event_type_of",
    "forget_conversations",
    "prepare_event",
    "record_deletions",
    "refresh_rollups",
    "storable",
    "write_metrics",
]
