"""Prometheus metrics of the way in: webhooks received, verification
failures, the worker's outcomes and lag, and the inbox's oldest waiting event.

The metric objects are module globals (prometheus_client's default
registry); the ``/metrics`` view (``closerarchive/metrics.py``) exposes them.
With ``PROMETHEUS_MULTIPROC_DIR`` set, prometheus_client writes every update
to a file per process in that directory and the view sums the files, so the
counts of all gunicorn workers and Celery worker processes add up.

Labels are small fixed sets: an endpoint's *name* (its URL token is a
secret), an HTTP status code, a reason code, a status. Never an exception's
text, which varies and may hold what a sender sent.
"""

import logging
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime

from django.db import DatabaseError
from django.db.models import Min
from django.utils import timezone
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

from .models import EventStatus, InboundEvent

logger = logging.getLogger(__name__)

# The endpoint label of a request whose endpoint is not known: an unknown
# token, or a request refused before the token was looked up.
UNKNOWN_ENDPOINT = "unknown"

# Reasons of verification failures (the ``reason`` label).
REASON_UNKNOWN_ENDPOINT = "unknown_endpoint"
REASON_ENDPOINT_DISABLED = "endpoint_disabled"
REASON_API_KEY_NOT_ALLOWED = "api_key_not_allowed"
# All of them, SignatureError.reason's (webhooks/signatures.py) included.
VERIFICATION_REASONS = (
    REASON_UNKNOWN_ENDPOINT,
    REASON_ENDPOINT_DISABLED,
    "signature_missing",
    "bad_signature",
    "bad_timestamp",
    "bad_endpoint_secret",
    REASON_API_KEY_NOT_ALLOWED,
)
# The statuses the worker gives events (the ``status`` label).
WORKER_STATUSES = (
    EventStatus.PROCESSED,
    EventStatus.FAILED,
    EventStatus.DEAD,
    EventStatus.REJECTED,
    EventStatus.SKIPPED,
    EventStatus.ERASED,
    EventStatus.EXPIRED,
)

WEBHOOKS_RECEIVED = Counter(
    "closer_archive_webhooks_received",
    "Webhook requests answered, by endpoint name and HTTP status code.",
    ["endpoint", "code"],
)
VERIFICATION_FAILURES = Counter(
    "closer_archive_webhook_verification_failures",
    "Webhook requests refused by verification, by reason.",
    ["reason"],
)
WORKER_EVENTS = Counter(
    "closer_archive_worker_events",
    "Events the processing worker finished an attempt at, by the status it gave them"
    " (processed, failed, dead, rejected, skipped, erased, expired).",
    ["status"],
)
PROCESSING_LAG = Histogram(
    "closer_archive_event_processing_lag_seconds",
    "Time from an event's receipt to its being processed by the worker.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)

# Every known label value exported from the start, at 0: a counter that
# appears only at its first increment hides that increase from rate().
for _reason in VERIFICATION_REASONS:
    VERIFICATION_FAILURES.labels(_reason)
for _status in WORKER_STATUSES:
    WORKER_EVENTS.labels(_status.value)


def count_webhook(endpoint_name: str, status_code: int) -> None:
    WEBHOOKS_RECEIVED.labels(endpoint_name, str(status_code)).inc()


def count_verification_failure(reason: str) -> None:
    VERIFICATION_FAILURES.labels(reason).inc()


def record_worker_outcomes(
    statuses: Mapping[str, int], *, processed_lags: Iterable[float] = ()
) -> None:
    """Count the statuses the worker gave a batch (how many events each),
    and the lag of each event it processed."""
    for status, count in statuses.items():
        WORKER_EVENTS.labels(status).inc(count)
    for lag in processed_lags:
        PROCESSING_LAG.observe(max(lag, 0.0))


def lag_seconds(received_at: datetime, processed_at: datetime) -> float:
    return (processed_at - received_at).total_seconds()


class OldestWaitingCollector:
    """``closer_archive_inbox_oldest_waiting_seconds``: the age of the oldest
    event still ``received`` (0 when none waits), read from the database at
    scrape time.

    A custom collector, not a Gauge: it is computed by the process serving
    ``/metrics`` only, so in multiprocess mode it is never summed over
    processes. ``MIN(received_at) WHERE status = 'received'`` reads the
    partial index ``inbound_pending_idx``, which holds only waiting, failed,
    dead and rejected events, never the processed millions.
    """

    NAME = "closer_archive_inbox_oldest_waiting_seconds"

    def collect(self) -> Iterator[Metric]:
        try:
            oldest = InboundEvent.objects.filter(status=EventStatus.RECEIVED).aggregate(
                oldest=Min("received_at")
            )["oldest"]
        except DatabaseError:
            # The database being down is for /health to say; the other
            # metrics are still worth a scrape.
            logger.warning("metrics: could not read the inbox's oldest waiting event")
            return
        age = 0.0 if oldest is None else max((timezone.now() - oldest).total_seconds(), 0.0)
        yield GaugeMetricFamily(
            self.NAME,
            "Age of the oldest event waiting in the inbox (status received); 0 when none waits.",
            value=age,
        )
