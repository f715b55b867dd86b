"""The archive's published interface: what ``webhooks`` and ``backfill`` may call.

Writing goes through one function, ``apply_events`` (webhooks and the
backfill both use it). The rest reads payloads without touching the
database (to answer a webhook or screen a dump record before it is
applied), erases a customer's archive rows, deletes or anonymises the
conversations past retention, and writes the archive back out as Closer
events. Whatever deletes conversations calls ``record_deletions`` before the
delete (it also marks their Insights hours for ``refresh_rollups``);
whatever changes a kept conversation's messages outside ``apply_events``
calls ``write_metrics(ids)`` after. The modules of this package are private
to ``conversations``: import-linter holds the other apps to this file.
"""

from ..closer_events import closer_events
from ..insights.store import forget_conversations, refresh_rollups, write_metrics
from ..payloads import (
    KNOWN_EVENT_TYPES,
    InvalidEvent,
    UnknownEventType,
    check_event,
    customer_email_of,
    customer_id_of,
    datetime_to_ms,
    event_type_of,
    storable,
)
from .deletions import record_deletions
from .erasure import (
    ERASED_TABLES,
    ArchivedCustomer,
    customers_matching,
    erase_customer_rows,
    identifying_values,
    scrub_admin_history,
)
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
from .retention import (
    RETENTION_ACTIONS,
    RetentionCounts,
    apply_conversation_retention,
    count_past_retention,
)

__all__ = [
    "APPLIED",
    "ERASED_TABLES",
    "INVALID",
    "KNOWN_EVENT_TYPES",
    "RETENTION_ACTIONS",
    "SKIPPED",
    "ArchivedCustomer",
    "BatchResult",
    "EventOutcome",
    "IncomingEvent",
    "InvalidEvent",
    "PreparedEvent",
    "RetentionCounts",
    "UnknownEventType",
    "apply_conversation_retention",
    "apply_events",
    "check_event",
    "closer_events",
    "count_past_retention",
    "customer_email_of",
    "customer_id_of",
    "customers_matching",
    "datetime_to_ms",
    "erase_customer_rows",
    "event_type_of",
    "forget_conversations",
    "identifying_values",
    "prepare_event",
    "record_deletions",
    "refresh_rollups",
    "scrub_admin_history",
    "storable",
    "write_metrics",
]
