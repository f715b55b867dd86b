"""Shared by the backfill and dump_events tests: dumps on disk, archive snapshots."""

import gzip
import io
import json
from pathlib import Path
from typing import Any

from django.core.management import call_command

from bench.make_dump import DumpShape, events
from conversations.models import Adviser, ConversationEvent, Customer
from tests.archive_state import customer_state
from tests.builders import closed_event, created_event
from webhooks.models import InboundEvent

# Small but with every quirk: created events missing or late, open
# conversations, unknown event types, bots, Polish and English.
SHAPE = DumpShape(
    customers=12,
    conversations=3,
    min_messages=1,
    max_messages=12,
    created_missing=0.2,
    open_rate=0.3,
    late_created=0.2,
    unknown_events=0.1,
    seed=7,
)


def generated_events(**changes: Any) -> list[dict[str, Any]]:
    return list(events(DumpShape(**{**SHAPE.__dict__, **changes})))


def write(path: Path, payloads: list[Any], dump_format: str = "ndjson") -> Path:
    if dump_format == "ndjson":
        data = "".join(json.dumps(p) + "\n" for p in payloads)
    elif dump_format == "array":
        data = json.dumps(payloads, indent=1)
    else:
        data = json.dumps({"exportedBy": "test", "events": payloads}, indent=1)
    raw = data.encode()
    path.write_bytes(gzip.compress(raw) if path.name.endswith(".gz") else raw)
    return path


def backfill(*args: Any) -> tuple[str, str]:
    """Run the command; return (stdout, stderr). Raises CommandError on failure."""
    out, err = io.StringIO(), io.StringIO()
    call_command("backfill", *[str(a) for a in args], "--no-progress", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def summary(stdout: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in stdout.splitlines() if ": " in line)


def archive() -> dict[str, Any]:
    """Everything the archive holds, free of primary keys and receive times."""
    return {
        "customers": {
            c: customer_state(c) for c in Customer.objects.values_list("closer_id", flat=True)
        },
        "advisers": sorted(
            Adviser.objects.values_list("closer_id", "first_name", "last_name", "email", "is_bot")
        ),
        "ledger": sorted(
            (
                e.customer.closer_id,
                e.kind,
                e.occurred_ms,
                json.dumps(e.visitor_context, sort_keys=True),
                e.closed_type,
                e.assignee.closer_id if e.assignee else None,
            )
            for e in ConversationEvent.objects.select_related("customer", "assignee")
        ),
    }


def empty_the_archive() -> None:
    Customer.objects.all().delete()
    Adviser.objects.all().delete()
    InboundEvent.objects.all().delete()


# NDJSON lines 1-6: a valid created event, an array (line 2), an object with
# no eventType (3), broken JSON (4), a closed event without a customer (5),
# and a valid closed event.
FOUR_BAD_RECORDS_AMONG_TWO_GOOD = [
    json.dumps(created_event("c1", 1_000_000)),
    json.dumps([1, 2]),
    json.dumps({"customer": {"id": "c2"}, "timestamp": 5}),
    '{"eventType": "ThreadCreatedEvent", ',
    json.dumps({"eventType": "ThreadClosedEvent", "timestamp": 5}),
    json.dumps(closed_event("c1", 2_000_000)),
]
