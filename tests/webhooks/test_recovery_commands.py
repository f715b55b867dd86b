"""sweep_events, reprocess_events and the beat schedule."""

from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from closerarchive.celery import app as celery_app
from tests.builders import closed_event
from tests.inbox import stored
from tests.processes import celery_broker
from webhooks.models import EventSource, EventStatus, InboundEvent
from webhooks.outbox import events_due
from webhooks.tasks import sweep_events

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_the_beat_schedule_runs_the_sweep_task_periodically():
    entry = settings.CELERY_BEAT_SCHEDULE["sweep-events"]
    assert entry["task"] == "webhooks.sweep_events"
    assert celery_app.tasks[entry["task"]].name == sweep_events.name
    assert entry["schedule"] == settings.SWEEP_INTERVAL_SECONDS


def test_sweep_events_processes_events_left_received(django_capture_on_commit_callbacks):
    event = stored(closed_event("c1", 2_000_000))

    output = run("sweep_events", "--grace", "0")

    event.refresh_from_db()
    assert event.status == EventStatus.PROCESSED
    assert output.strip() == "1 of 1 due events sent for processing"


def test_sweep_events_leaves_fresh_received_events_to_their_own_task():
    stored(closed_event("c1", 2_000_000))
    assert run("sweep_events", "--grace", "60").strip() == "0 of 0 due events sent for processing"


def test_sweep_does_not_resend_a_received_event_it_sent_recently():
    event = stored(closed_event("c1", 2_000_000))
    # What the sweep records when it sends a `received` event.
    InboundEvent.objects.filter(pk=event.pk).update(
        next_attempt_at=timezone.now() + timedelta(minutes=5)
    )
    assert run("sweep_events", "--grace", "0").strip() == "0 of 0 due events sent for processing"


def test_sweep_events_with_the_broker_down_fails_loudly_and_keeps_every_event():
    events = [stored(closed_event(f"c{n}", 2_000_000)) for n in range(3)]
    with celery_broker("redis://127.0.0.1:1/0", flush=False), pytest.raises(CommandError) as error:
        run("sweep_events", "--grace", "0")
    assert "broker is unreachable" in str(error.value)
    assert {e.status for e in InboundEvent.objects.filter(pk__in=[e.pk for e in events])} == {
        EventStatus.RECEIVED
    }


def test_reprocess_events_sends_dead_events_through_processing_again(
    django_capture_on_commit_callbacks,
):
    dead = stored(closed_event("c1", 2_000_000), status=EventStatus.DEAD, attempts=5)
    failed = stored(closed_event("c2", 2_000_000), status=EventStatus.FAILED, attempts=2)

    with django_capture_on_commit_callbacks(execute=True):
        output = run("reprocess_events", "--status", "dead")

    assert output.strip() == "1 dead events sent for reprocessing"
    dead.refresh_from_db()
    failed.refresh_from_db()
    assert (dead.status, dead.attempts) == (EventStatus.PROCESSED, 1)
    assert failed.status == EventStatus.FAILED  # not asked for


def test_reprocess_events_since_only_takes_events_received_from_then_on(
    django_capture_on_commit_callbacks,
):
    old = stored(closed_event("c1", 2_000_000), status=EventStatus.REJECTED)
    new = stored(closed_event("c2", 2_000_000), status=EventStatus.REJECTED)
    InboundEvent.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(days=3))

    since = (timezone.now() - timedelta(days=1)).date().isoformat()
    with django_capture_on_commit_callbacks(execute=True):
        run("reprocess_events", "--status", "rejected", "--since", since)

    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.status, new.status) == (EventStatus.REJECTED, EventStatus.PROCESSED)


def test_reprocess_events_dry_run_changes_nothing():
    stored(closed_event("c1", 2_000_000), status=EventStatus.DEAD)
    assert run("reprocess_events", "--status", "dead", "--dry-run").strip() == (
        "1 dead events would be reprocessed"
    )
    assert InboundEvent.objects.get().status == EventStatus.DEAD


@pytest.mark.parametrize(
    "args, message",
    [
        (["--status", "processed"], "invalid choice"),
        (["--status", "dead", "--since", "last tuesday"], "not an ISO date"),
        (["--status", "dead", "--since", "2024-13-45"], "not an ISO date"),
    ],
)
def test_reprocess_events_refuses_bad_options_and_changes_nothing(args, message):
    stored(closed_event("c1", 2_000_000), status=EventStatus.DEAD)
    with pytest.raises(CommandError, match=message):
        run("reprocess_events", *args)
    assert InboundEvent.objects.get().status == EventStatus.DEAD


def test_a_rejected_event_whose_body_is_not_json_is_rejected_again_not_retried(
    django_capture_on_commit_callbacks,
):
    event = InboundEvent.objects.create(
        source=EventSource.WEBHOOK, dedupe_key="raw", raw_body=b"{oops", status="rejected"
    )
    with django_capture_on_commit_callbacks(execute=True):
        run("reprocess_events", "--status", "rejected")
    event.refresh_from_db()
    assert event.status == EventStatus.REJECTED
    assert "not JSON" in event.last_error


def test_the_sweeps_queries_are_served_by_the_pending_events_index():
    """The sweep reads only waiting events: with millions processed, it must
    not scan the inbox. Capture its real SQL and read the plans."""
    with CaptureQueriesContext(connection) as queries:
        events_due(grace_seconds=0)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for query in queries.captured_queries:
            cursor.execute("EXPLAIN " + query["sql"])
            plan = "\n".join(row[0] for row in cursor.fetchall())
            # Either partial index of waiting events: the `received` query may
            # also take inbound_received_age_idx (its received_at range).
            assert "inbound_pending_idx" in plan or "inbound_received_age_idx" in plan, plan
