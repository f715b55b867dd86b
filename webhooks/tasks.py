"""Celery tasks of the way in."""

import logging
from typing import Any

from celery import shared_task

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


@shared_task(name="webhooks.sweep_events")
def sweep_events() -> int:
    from .services import events_due

    event_ids = events_due()
    for event_id in event_ids:
        enqueue_processing(event_id)
    return len(event_ids)


def enqueue_processing(event_id: int) -> None:
    """Send the processing task; never raise, never hang the caller.

    Called after commit on the request path. The stored event is the outbox:
    if the broker is unreachable we log and leave the event ``received`` for
    the sweep to send.
    """
    try:
        process_inbound_event.apply_async((event_id,), retry=False)
    except Exception:
        logger.warning("broker unreachable; event %s left for the sweep", event_id, exc_info=True)
