"""Celery tasks of the way in: thin wrappers around processing and the outbox."""

import logging
from typing import Any

from celery import shared_task
from django.conf import settings

from . import outbox, processing, retention

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    name=outbox.PROCESS_EVENT_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,  # the attempt count lives on the event row
)
def process_inbound_event(self: Any, event_id: int) -> str | None:
    result = processing.process_inbound_event(event_id=event_id)
    if result is None:
        return None
    if result.retry_in_seconds is not None and not self.request.is_eager:
        # If the broker is down now, the event stays `failed` with its
        # next_attempt_at, and the sweep sends it again.
        try:
            self.retry(countdown=result.retry_in_seconds, throw=False)
        except Exception:
            logger.warning("could not schedule retry of event %s; the sweep will", event_id)
    return result.status


@shared_task(
    bind=True,
    name=outbox.PROCESS_EVENTS_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
)
def process_inbound_events(self: Any, event_ids: list[int]) -> int:
    """Process the events the relay sent together (in as few batches as
    processing makes of them); a failed one is retried on its own task."""
    done = 0
    waiting = processing.pending_among(event_ids=event_ids)
    while waiting:
        event_id = waiting[0]
        result = processing.process_inbound_event(event_id=event_id)
        # Processing one event takes others waiting in the inbox into its
        # batch, usually the rest of this list: ask once which are left
        # rather than once per event.
        waiting = processing.pending_among(event_ids=waiting[1:])
        if result is None:
            continue  # another worker has it
        done += 1
        if result.retry_in_seconds is not None and not self.request.is_eager:
            outbox.enqueue_processing(event_id, countdown=result.retry_in_seconds)
    return done


@shared_task(name=outbox.SWEEP_TASK, ignore_result=True)
def sweep_events() -> int:
    """Run by Celery beat (CELERY_BEAT_SCHEDULE): re-send what is due."""
    result = outbox.sweep(
        grace_seconds=settings.SWEEP_GRACE_SECONDS,
        resend_after_seconds=settings.SWEEP_RESEND_AFTER_SECONDS,
    )
    return result.sent


@shared_task(name="webhooks.apply_retention", ignore_result=True)
def apply_retention() -> dict[str, int]:
    """Run daily by Celery beat (CELERY_BEAT_SCHEDULE): what ``manage.py
    apply_retention`` does."""
    report = retention.apply_retention()
    logger.info(
        "apply_retention: %s", ", ".join(f"{kind}={n}" for kind, n in report.counts.items())
    )
    return report.counts
