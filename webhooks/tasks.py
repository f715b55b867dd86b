"""Celery tasks of the way in."""

import logging
from typing import Any

from celery import shared_task

from .relay import TaskRelay

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    name="webhooks.process_inbound_event",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,  # the attempt count lives on the event row
)
def process_inbound_event(self: Any, event_id: int) -> str | None:
    from .services import process_inbound_event as process

    result = process(event_id=event_id)
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
    name="webhooks.process_inbound_events",
    acks_late=True,
    reject_on_worker_lost=True,
)
def process_inbound_events(self: Any, event_ids: list[int]) -> int:
    """Process the events the relay sent together (in as few batches as the
    services make of them); a failed one is retried on its own task."""
    from .services import pending_among
    from .services import process_inbound_event as process

    done = 0
    waiting = pending_among(event_ids=event_ids)
    while waiting:
        event_id = waiting[0]
        result = process(event_id=event_id)
        # Processing one event takes others waiting in the inbox into its
        # batch, usually the rest of this list: ask once which are left
        # rather than once per event.
        waiting = pending_among(event_ids=waiting[1:])
        if result is None:
            continue  # another worker has it
        done += 1
        if result.retry_in_seconds is not None and not self.request.is_eager:
            try:
                process_inbound_event.apply_async(
                    (event_id,), countdown=result.retry_in_seconds, retry=False
                )
            except Exception:
                logger.warning("could not schedule retry of event %s; the sweep will", event_id)
    return done


@shared_task(name="webhooks.sweep_events", ignore_result=True)
def sweep_events() -> int:
    """Run by Celery beat (CELERY_BEAT_SCHEDULE): re-send what is due."""
    from django.conf import settings

    from .services import sweep

    result = sweep(
        grace_seconds=settings.SWEEP_GRACE_SECONDS,
        resend_after_seconds=settings.SWEEP_RESEND_AFTER_SECONDS,
    )
    return result.sent


def enqueue_processing(event_id: int) -> bool:
    """Send the processing task; never raise, never hang the caller.

    Called after commit on the request path. The stored event is the outbox:
    if the broker is unreachable we log and leave the event ``received`` for
    the sweep to send. Returns whether the broker took it.
    """
    try:
        process_inbound_event.apply_async((event_id,), retry=False)
    except Exception:
        logger.warning("broker unreachable; event %s left for the sweep", event_id, exc_info=True)
        return False
    return True


def _send_batch(event_ids: list[int]) -> None:
    process_inbound_events.apply_async((event_ids,), retry=False)


_relay: TaskRelay | None = None


def hand_over(event_id: int) -> None:
    """After a webhook's commit: have the event processed, without making the
    request wait for the broker. With a broker, through the relay (see
    webhooks/relay.py) unless WEBHOOK_TASK_RELAY=0; eagerly (no broker), right
    here."""
    global _relay
    from django.conf import settings

    if process_inbound_event.app.conf.task_always_eager or not settings.WEBHOOK_TASK_RELAY:
        enqueue_processing(event_id)
        return
    if _relay is None:
        _relay = TaskRelay(
            _send_batch,
            batch_size=settings.EVENT_BATCH_SIZE,
            linger_seconds=settings.WEBHOOK_RELAY_LINGER_MS / 1000,
        )
    _relay.submit(event_id)


def send_processing(event_ids: list[int]) -> int:
    """Send the task for each event in order, stopping at the first failure
    (one connect timeout, not one per event); return how many were sent."""
    for sent, event_id in enumerate(event_ids):
        if not enqueue_processing(event_id):
            return sent
    return len(event_ids)
