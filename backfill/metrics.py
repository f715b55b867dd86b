"""Prometheus metrics of the backfill command: its progress, event by event.

``closer_archive_backfill_events_total{outcome}``: every record ``read``,
and what became of each (``stored``: new and archived, ``duplicate``,
``skipped``: an unknown event type kept in the inbox, ``erased``: an event of
an erased customer, ``expired``: older than the conversation retention
period, ``failed``). A short-lived command's counts reach the
``/metrics`` of the web processes when it runs with the same
``PROMETHEUS_MULTIPROC_DIR`` on the same host (multiprocess mode keeps a
finished process's counters in its file); otherwise they end with it.
"""

from prometheus_client import Counter

from .services import BackfillResult

BACKFILL_EVENTS = Counter(
    "closer_archive_backfill_events",
    "Records of dumps the backfill command read (outcome=read) and what became of them.",
    ["outcome"],
)
OUTCOMES = ("read", "stored", "duplicate", "skipped", "erased", "expired", "failed")
# Exported at 0 from the start, so rate() sees the first increase.
for _outcome in OUTCOMES:
    BACKFILL_EVENTS.labels(_outcome)


def record_batch(*, read: int, unreadable: int, result: BackfillResult) -> None:
    """Count one committed batch: ``read`` records, of which ``unreadable``
    could not even be decoded (failed along with ``result.failures``)."""
    for outcome, count in (
        ("read", read),
        ("stored", result.new_events),
        ("duplicate", result.duplicates),
        ("skipped", result.skipped),
        ("erased", result.erased),
        ("expired", result.expired),
        ("failed", unreadable + len(result.failures)),
    ):
        if count:
            BACKFILL_EVENTS.labels(outcome).inc(count)
