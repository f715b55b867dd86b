"""Reading ``/metrics``: the scrape, and sample values in its text."""

from typing import Any

from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

RECEIVED = "closer_archive_webhooks_received_total"
VERIFICATION_FAILURES = "closer_archive_webhook_verification_failures_total"
WORKER_EVENTS = "closer_archive_worker_events_total"
LAG_COUNT = "closer_archive_event_processing_lag_seconds_count"
OLDEST_WAITING = "closer_archive_inbox_oldest_waiting_seconds"
BACKFILL_EVENTS = "closer_archive_backfill_events_total"


def scrape(client: Client, **extra: Any) -> str:
    """GET /metrics from loopback (the test client's REMOTE_ADDR); must be 200."""
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    return response.content.decode()


def samples(text: str, name: str, **labels: str) -> list[float]:
    """The values of the samples called ``name`` whose labels include ``labels``."""
    return [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    ]


def value(text: str, name: str, **labels: str) -> float:
    """The sum of those samples; 0 when there is none (a counter not yet touched)."""
    return sum(samples(text, name, **labels))
