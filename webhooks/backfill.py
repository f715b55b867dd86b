"""Backfill: dumped events in, through the same inbox and normaliser as webhooks.

Each dumped event is recorded as an ``InboundEvent`` (source ``backfill``, no
endpoint) under the same dedupe key a webhook delivery of the same body would
get, so running a dump twice adds nothing the second time. The events a batch
adds are applied by ``conversations.services.apply_events`` in the batch's
transaction: a batch lands whole or not at all.

A record that cannot be archived never stops the run and never half-applies:
it is returned as a failure and nothing of it is stored. When the normaliser
raises (rather than reporting an invalid event), the batch is rolled back and
retried in halves until the record responsible is alone.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from conversations import services as archive

from .models import EventSource, EventStatus, InboundEvent
from .services import canonical_json, dedupe_key_for

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DumpedEvent:
    """One record of a dump. ``position`` is the caller's, handed back with failures."""

    payload: Any
    position: Any = None
    raw: bytes | None = None  # the record's bytes as read, when the dump gives them


@dataclass(frozen=True)
class Failure:
    event: DumpedEvent
    reason: str


@dataclass
class BackfillResult:
    new_events: int = 0
    duplicates: int = 0
    skipped: int = 0  # unknown event types: kept in the inbox, not archived
    new_conversations: int = 0
    new_messages: int = 0
    failures: list[Failure] = field(default_factory=list)

    def add(self, other: "BackfillResult") -> None:
        self.new_events += other.new_events
        self.duplicates += other.duplicates
        self.skipped += other.skipped
        self.new_conversations += other.new_conversations
        self.new_messages += other.new_messages
        self.failures += other.failures


@dataclass(frozen=True)
class _Candidate:
    event: DumpedEvent
    dedupe_key: str


def backfill_events(*, events: Sequence[DumpedEvent], dry_run: bool = False) -> BackfillResult:
    """Record and apply one batch of dumped events; report what happened to each.

    With ``dry_run`` the events are validated and checked against the inbox,
    and nothing is written.
    """
    result = BackfillResult()
    candidates: dict[str, _Candidate] = {}
    for event in events:
        problem = _screen(event.payload)
        if problem:
            result.failures.append(Failure(event, problem))
            continue
        key = dedupe_key_for(payload=event.payload, headers={})
        if key in candidates:
            result.duplicates += 1  # the same body twice in one batch
            continue
        candidates[key] = _Candidate(event, key)
    if dry_run:
        _validate(list(candidates.values()), result)
    else:
        _apply_resiliently(list(candidates.values()), result)
    return result


def _screen(payload: Any) -> str:
    """The reasons a record is not even an event (checked before any parsing)."""
    if not isinstance(payload, dict):
        return f"not a JSON object but {_json_type(payload)}"
    event_type = payload.get("eventType")
    if event_type is None:
        return "eventType is missing"
    if not isinstance(event_type, str):
        return "eventType is not a string"
    return ""


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _already_stored(keys: list[str]) -> set[str]:
    # Served by the partial unique index uniq_inbound_event_without_endpoint.
    return set(
        InboundEvent.objects.filter(endpoint__isnull=True, dedupe_key__in=keys).values_list(
            "dedupe_key", flat=True
        )
    )


def _validate(candidates: list[_Candidate], result: BackfillResult) -> None:
    stored = _already_stored([c.dedupe_key for c in candidates])
    for candidate in candidates:
        if candidate.dedupe_key in stored:
            result.duplicates += 1
            continue
        try:
            archive.check_event(candidate.event.payload)
        except archive.UnknownEventType:
            result.skipped += 1
        except archive.InvalidEvent as error:
            result.failures.append(Failure(candidate.event, str(error)))
        else:
            result.new_events += 1


def _apply_resiliently(candidates: list[_Candidate], result: BackfillResult) -> None:
    """Apply in one transaction; on an unexpected error, split to find the culprit."""
    if not candidates:
        return
    try:
        with transaction.atomic():
            applied = _apply(candidates)
    except (OperationalError, InterfaceError):
        raise  # the database is gone: no record is to blame, stop the run
    except Exception as error:
        if len(candidates) == 1:
            logger.warning("backfill: record failed to apply", exc_info=True)
            reason = f"failed to apply: {type(error).__name__}: {error}"
            result.failures.append(Failure(candidates[0].event, reason[:1000]))
            return
        middle = len(candidates) // 2
        _apply_resiliently(candidates[:middle], result)
        _apply_resiliently(candidates[middle:], result)
        return
    result.add(applied)


def _apply(candidates: list[_Candidate]) -> BackfillResult:
    result = BackfillResult()
    stored = _already_stored([c.dedupe_key for c in candidates])
    fresh = [c for c in candidates if c.dedupe_key not in stored]
    result.duplicates = len(candidates) - len(fresh)
    if not fresh:
        return result
    now = timezone.now()
    # Stored as processed up front; the few the normaliser skips or rejects
    # are corrected below, which saves an UPDATE of every row.
    rows = InboundEvent.objects.bulk_create(
        [
            InboundEvent(
                source=EventSource.BACKFILL,
                dedupe_key=c.dedupe_key,
                event_type=archive.event_type_of(c.event.payload),
                customer_closer_id=_customer_id(c.event.payload),
                raw_body=c.event.raw if c.event.raw is not None else canonical_json(c.event.payload),
                status=EventStatus.PROCESSED,
                attempts=1,
                processed_at=now,
            )
            for c in fresh
        ]
    )
    applied = archive.apply_events(
        [archive.IncomingEvent(payload=c.event.payload, inbound_event_id=row.pk) for c, row in zip(fresh, rows, strict=True)]
    )
    rejected: list[int] = []
    for candidate, row, outcome in zip(fresh, rows, applied.outcomes, strict=True):
        if outcome.status == archive.SKIPPED:
            result.skipped += 1
            InboundEvent.objects.filter(pk=row.pk).update(
                status=EventStatus.SKIPPED, last_error=outcome.reason
            )
        elif outcome.status == archive.INVALID:
            # Not archived, so not kept either: the errors file reports it and
            # a corrected dump can be backfilled later under the same key.
            result.failures.append(Failure(candidate.event, outcome.reason))
            rejected.append(row.pk)
        else:
            result.new_events += 1
    if rejected:
        InboundEvent.objects.filter(pk__in=rejected).delete()
    result.new_conversations = applied.new_conversations
    result.new_messages = applied.new_messages
    return result


def _customer_id(payload: dict[str, Any]) -> str:
    customer = payload.get("customer")
    value = customer.get("id") if isinstance(customer, dict) else None
    return str(value)[:100] if isinstance(value, str | int) and not isinstance(value, bool) else ""
