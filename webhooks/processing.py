"""Processing: the worker path (apply a stored event to the archive, record how it went).

An event is locked (``skip_locked``: a duplicate task never waits for, then
redoes, a worker's in-flight work), applied through the archive's
``apply_events``, and marked processed; on error it is marked failed with
a retry time, and dead after the last attempt. Events of an erased
customer from before the erasure are blanked instead of applied, and so
are events older than the conversation retention period (``expired``).
"""

import json
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from conversations import services as archive

from . import metrics
from .erasure import erased_among
from .models import EXPIRED_EVENT_VALUES, EventStatus, InboundEvent
from .retention import expired_among

logger = logging.getLogger(__name__)

# Statuses a processing task still has work to do for.
PENDING_STATUSES = (EventStatus.RECEIVED, EventStatus.FAILED)

_OUTCOME_STATUS = {
    archive.APPLIED: EventStatus.PROCESSED,
    archive.SKIPPED: EventStatus.SKIPPED,
    archive.INVALID: EventStatus.REJECTED,
}


@dataclass(frozen=True)
class ProcessingResult:
    status: str
    retry_in_seconds: float | None = None


def retry_delay(attempts: int) -> float:
    """Exponential backoff: base, 2*base, 4*base... capped at one hour."""
    return float(min(settings.EVENT_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), 3600))


def pending_among(*, event_ids: list[int]) -> list[int]:
    """Those of ``event_ids`` still waiting to be processed, in the given order."""
    if not event_ids:
        return []
    waiting = set(
        InboundEvent.objects.filter(pk__in=event_ids, status__in=PENDING_STATUSES).values_list(
            "pk", flat=True
        )
    )
    return [event_id for event_id in event_ids if event_id in waiting]


def process_inbound_event(*, event_id: int) -> ProcessingResult | None:
    """Apply one stored event to the archive and record how it went.

    Returns None when there is nothing to do: the event is already done, or
    another worker holds it right now.
    """
    # Most duplicate tasks (the event went in another task's batch) end here,
    # on one query and no transaction.
    if not InboundEvent.objects.filter(pk=event_id, status__in=PENDING_STATUSES).exists():
        return None
    with transaction.atomic():
        event = (
            InboundEvent.objects.select_for_update(skip_locked=True)
            .filter(pk=event_id, status__in=PENDING_STATUSES)
            .first()
        )
        if event is None:
            return None
        if event.status == EventStatus.RECEIVED and settings.EVENT_BATCH_SIZE > 1:
            batch_result = _process_with_waiting_events(event)
            if batch_result is not None:
                return batch_result
        event.attempts += 1
        try:
            payload = json.loads(bytes(event.raw_body))
        except ValueError as error:
            # Not JSON (a `rejected` event sent back by reprocess): retrying
            # cannot help.
            return _record_outcome(event, EventStatus.REJECTED, f"body is not JSON: {error}")
        try:
            if erased_among({event.pk: payload}):
                return _record_erased(event)
            if expired_among({event.pk: payload}):
                return _record_expired(event)
            with transaction.atomic():
                outcome = archive.apply_events(
                    [archive.IncomingEvent(payload=payload, inbound_event_id=event.pk)]
                ).outcomes[0]
        except Exception as error:
            logger.exception("processing inbound event %s failed", event.pk)
            return _record_failure(event, error)
        return _record_outcome(event, _OUTCOME_STATUS[outcome.status], outcome.reason)


def _process_with_waiting_events(event: InboundEvent) -> ProcessingResult | None:
    """Apply ``event`` together with other events waiting in the inbox, in one
    ``apply_events`` batch: a batch costs about as many queries as one event.

    Under load the queue holds a task for each of them too; those tasks then
    find their event done and return at once. If the batch fails, nothing of
    it is kept and None is returned: the caller applies ``event`` alone, with
    the usual error handling, and the others wait for their own tasks.
    """
    companions = list(
        InboundEvent.objects.select_for_update(skip_locked=True)
        .filter(status=EventStatus.RECEIVED)
        .exclude(pk=event.pk)
        .order_by("pk")[: settings.EVENT_BATCH_SIZE - 1]
    )
    if not companions:
        return None
    batch = [event, *companions]
    payloads: dict[int, Any] = {}
    for item in batch:
        try:
            payloads[item.pk] = json.loads(bytes(item.raw_body))
        except ValueError:
            return None  # rare: handled one by one
    try:
        with transaction.atomic():
            erased = erased_among(payloads)
            expired = expired_among({pk: p for pk, p in payloads.items() if pk not in erased})
            applied = [pk for pk in payloads if pk not in erased and pk not in expired]
            outcomes = archive.apply_events(
                [archive.IncomingEvent(payload=payloads[pk], inbound_event_id=pk) for pk in applied]
            ).outcomes
    except Exception:
        logger.warning(
            "batch of %d events failed; applying event %s alone", len(batch), event.pk,
            exc_info=True,
        )  # fmt: skip
        return None
    # One UPDATE per distinct outcome (usually one: all processed), not
    # bulk_update's CASE per row and field.
    by_outcome: dict[tuple[str, str], list[int]] = defaultdict(list)
    for pk, outcome in zip(applied, outcomes, strict=True):
        by_outcome[(_OUTCOME_STATUS[outcome.status], outcome.reason)].append(pk)
    now = timezone.now()
    for (status, reason), pks in by_outcome.items():
        InboundEvent.objects.filter(pk__in=pks).update(
            status=status,
            last_error=reason,
            attempts=F("attempts") + 1,
            processed_at=now,
            next_attempt_at=None,
        )
    if erased:  # rare: only then rewrite the (large) bodies
        InboundEvent.objects.filter(pk__in=erased).blank_erased(
            attempts=F("attempts") + 1, processed_at=now
        )
    if expired:  # as rare: a late event past the retention period
        InboundEvent.objects.filter(pk__in=expired).update(
            **EXPIRED_EVENT_VALUES, body_pruned_at=now, attempts=F("attempts") + 1, processed_at=now
        )
    counts: Counter[str] = Counter({EventStatus.ERASED: len(erased)} if erased else {})
    if expired:
        counts[EventStatus.EXPIRED] = len(expired)
    processed: set[int] = set()
    for (status, _), pks in by_outcome.items():
        counts[status] += len(pks)
        if status == EventStatus.PROCESSED:
            processed.update(pks)
    lags = [metrics.lag_seconds(item.received_at, now) for item in batch if item.pk in processed]
    _count_on_commit(counts, lags)
    if event.pk in erased:
        return ProcessingResult(EventStatus.ERASED)
    if event.pk in expired:
        return ProcessingResult(EventStatus.EXPIRED)
    return ProcessingResult(next(st for (st, _), pks in by_outcome.items() if event.pk in pks))


def _record_outcome(event: InboundEvent, status: str, reason: str) -> ProcessingResult:
    now = timezone.now()
    event.status = status
    event.last_error = reason
    event.processed_at = now
    event.next_attempt_at = None
    event.save(
        update_fields=["status", "attempts", "last_error", "processed_at", "next_attempt_at"]
    )
    lag = metrics.lag_seconds(event.received_at, now)
    _count_on_commit(Counter([status]), [lag] if status == EventStatus.PROCESSED else [])
    return ProcessingResult(event.status)


def _record_erased(event: InboundEvent) -> ProcessingResult:
    """An event of an erased customer, from before the erasure: never applied,
    and its personal data goes the way of the rest of theirs."""
    event.blank_erased()
    event.processed_at = timezone.now()
    event.save()
    _count_on_commit(Counter([event.status]))
    return ProcessingResult(event.status)


def _record_expired(event: InboundEvent) -> ProcessingResult:
    """An event older than the conversation retention period: what it would
    make is past retention already, so it is not applied (and its body is
    not kept)."""
    now = timezone.now()
    event.blank_expired(now)
    event.processed_at = now
    event.save()
    _count_on_commit(Counter([event.status]))
    return ProcessingResult(event.status)


def _record_failure(event: InboundEvent, error: Exception) -> ProcessingResult:
    event.last_error = f"{type(error).__name__}: {error}"[:10_000]
    if event.attempts >= settings.EVENT_MAX_ATTEMPTS:
        event.status = EventStatus.DEAD
        event.next_attempt_at = None
        delay = None
    else:
        event.status = EventStatus.FAILED
        delay = retry_delay(event.attempts)
        event.next_attempt_at = timezone.now() + timedelta(seconds=delay)
    event.save(update_fields=["status", "attempts", "last_error", "next_attempt_at"])
    _count_on_commit(Counter([event.status]))
    return ProcessingResult(event.status, delay)


def _count_on_commit(statuses: Counter[str], processed_lags: list[float] | None = None) -> None:
    """Count the outcomes in the metrics once they are committed: a batch
    rolled back is tried again and must not be counted twice."""
    transaction.on_commit(
        partial(metrics.record_worker_outcomes, statuses, processed_lags=processed_lags or [])
    )
