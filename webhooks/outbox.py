"""The outbox: getting stored events to a worker (relay, sweep, requeue).

The inbox row is the outbox: once an event is committed nothing can lose
it, and publishing its task must never hang or fail the request. A publish
that fails is logged and the event stays ``received``; the sweep (Celery
beat, or ``manage.py sweep_events``) sends again whatever is due.

Tasks are sent by name (``celery.signature``) so this module does not
import ``tasks``, which imports it; ``WebhooksConfig.ready`` imports the
tasks module so the names resolve, and run eagerly, in every process.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from celery import current_app, signature
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .models import EventStatus, InboundEvent
from .relay import TaskRelay

logger = logging.getLogger(__name__)

PROCESS_EVENT_TASK = "webhooks.process_inbound_event"
PROCESS_EVENTS_TASK = "webhooks.process_inbound_events"
SWEEP_TASK = "webhooks.sweep_events"

# Statuses an operator can send back to processing.
REQUEUEABLE = (EventStatus.FAILED, EventStatus.DEAD, EventStatus.REJECTED)


def enqueue_processing(event_id: int, *, countdown: float | None = None) -> bool:
    """Send the processing task of one event; never raise, never hang the
    caller (no publish retries). Return whether the broker took it."""
    options: dict[str, Any] = {} if countdown is None else {"countdown": countdown}
    try:
        signature(PROCESS_EVENT_TASK).apply_async((event_id,), retry=False, **options)
    except Exception:
        logger.warning("broker unreachable; event %s left for the sweep", event_id, exc_info=True)
        return False
    return True


def send_processing(event_ids: list[int]) -> int:
    """Send the task for each event in order, stopping at the first failure
    (one connect timeout, not one per event); return how many were sent."""
    for sent, event_id in enumerate(event_ids):
        if not enqueue_processing(event_id):
            return sent
    return len(event_ids)


def _send_batch(event_ids: list[int]) -> None:
    signature(PROCESS_EVENTS_TASK).apply_async((event_ids,), retry=False)


_relay: TaskRelay | None = None


def hand_over(event_id: int) -> None:
    """After a webhook's commit: have the event processed without making the
    request wait for the broker: through the relay (webhooks/relay.py) unless
    WEBHOOK_TASK_RELAY=0; without a broker (eager tasks), right here."""
    global _relay
    if current_app.conf.task_always_eager or not settings.WEBHOOK_TASK_RELAY:
        enqueue_processing(event_id)
        return
    if _relay is None:
        _relay = TaskRelay(
            _send_batch,
            batch_size=settings.EVENT_BATCH_SIZE,
            linger_seconds=settings.WEBHOOK_RELAY_LINGER_MS / 1000,
        )
    _relay.submit(event_id)


def events_due(*, grace_seconds: int = 60, limit: int = 10_000) -> list[int]:
    """Events the sweep should (re-)send: received but never picked up (and
    not already re-sent recently), or failed and past their retry time."""
    now = timezone.now()
    received = InboundEvent.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        status=EventStatus.RECEIVED,
        received_at__lte=now - timedelta(seconds=grace_seconds),
    )
    failed = InboundEvent.objects.filter(status=EventStatus.FAILED, next_attempt_at__lte=now)
    return sorted(
        [
            *received.order_by("pk").values_list("pk", flat=True)[:limit],
            *failed.order_by("pk").values_list("pk", flat=True)[:limit],
        ]
    )


@dataclass(frozen=True)
class SweepResult:
    due: int
    sent: int

    @property
    def broker_unreachable(self) -> bool:
        return self.sent < self.due


def sweep(*, grace_seconds: int, resend_after_seconds: int, limit: int = 10_000) -> SweepResult:
    """Send the processing task again for every event that is due.

    A ``received`` event that is re-sent is not re-sent again before
    ``resend_after_seconds``: under a backlog its task is still queued, and
    each sweep would otherwise queue another copy. Sending stops at the first
    publish failure (the broker is down; the next sweep tries again).
    """
    event_ids = events_due(grace_seconds=grace_seconds, limit=limit)
    sent = send_processing(event_ids)
    if sent:
        InboundEvent.objects.filter(pk__in=event_ids[:sent], status=EventStatus.RECEIVED).update(
            next_attempt_at=timezone.now() + timedelta(seconds=resend_after_seconds)
        )
    if sent < len(event_ids):
        logger.warning("sweep: broker unreachable; %d of %d events sent", sent, len(event_ids))
    return SweepResult(due=len(event_ids), sent=sent)


def requeue(*, event_ids: list[int]) -> int:
    """Put failed, dead or rejected events back to ``received`` and send them
    after commit. Those the broker does not take now, the sweep sends."""
    with transaction.atomic():
        requeued = list(
            InboundEvent.objects.select_for_update()
            .filter(pk__in=event_ids, status__in=REQUEUEABLE)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        InboundEvent.objects.filter(pk__in=requeued).update(
            status=EventStatus.RECEIVED, attempts=0, next_attempt_at=None, last_error=""
        )
        transaction.on_commit(partial(send_processing, requeued))
    return len(requeued)
