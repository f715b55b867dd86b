"""Processing stored events: statuses, retries, dead events, the sweep."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.models import Conversation
from tests.builders import closed_event
from tests.inbox import stored
from tests.processes import celery_broker, wait_until
from tests.webhook_client import post
from webhooks.models import EventStatus, InboundEvent
from webhooks.outbox import events_due, requeue
from webhooks.processing import process_inbound_event, retry_delay
from webhooks.tasks import process_inbound_event as process_task
from webhooks.tasks import process_inbound_events as process_events_task

pytestmark = pytest.mark.django_db


def test_a_received_event_is_applied_and_marked_processed():
    event = stored(closed_event("c1", 2_000_000))

    result = process_inbound_event(event_id=event.pk)

    event.refresh_from_db()
    assert result is not None and result.status == EventStatus.PROCESSED
    assert (event.status, event.attempts, event.last_error) == (EventStatus.PROCESSED, 1, "")
    assert event.processed_at is not None
    assert Conversation.objects.get().message_count == 2


def test_processing_an_event_twice_has_no_further_effect():
    event = stored(closed_event("c1", 2_000_000))
    process_inbound_event(event_id=event.pk)

    assert process_inbound_event(event_id=event.pk) is None
    event.refresh_from_db()
    assert event.attempts == 1
    assert Conversation.objects.count() == 1


def test_an_unknown_event_type_is_marked_skipped():
    event = stored({"eventType": "ThreadTransferredEvent"})
    process_inbound_event(event_id=event.pk)
    event.refresh_from_db()
    assert event.status == EventStatus.SKIPPED
    assert "not archived" in event.last_error


def test_a_malformed_event_is_marked_rejected_not_retried():
    event = stored({"eventType": "ThreadClosedEvent", "customer": {"id": "c1"}})
    result = process_inbound_event(event_id=event.pk)
    assert result is not None and result.retry_in_seconds is None
    event.refresh_from_db()
    assert event.status == EventStatus.REJECTED
    assert "timestamp" in event.last_error


def test_a_processing_error_marks_the_event_failed_with_the_error(failing_archive):
    event = stored(closed_event("c1", 2_000_000))

    result = process_inbound_event(event_id=event.pk)

    event.refresh_from_db()
    assert event.status == EventStatus.FAILED
    assert event.attempts == 1
    assert "archive is refusing writes" in event.last_error
    assert result is not None and result.retry_in_seconds == retry_delay(1)
    assert event.next_attempt_at is not None and event.next_attempt_at > timezone.now()


def test_after_the_last_attempt_a_failing_event_is_dead(failing_archive, settings):
    settings.EVENT_MAX_ATTEMPTS = 3
    event = stored(closed_event("c1", 2_000_000))

    statuses = []
    for _ in range(3):
        statuses.append(process_inbound_event(event_id=event.pk).status)

    assert statuses == [EventStatus.FAILED, EventStatus.FAILED, EventStatus.DEAD]
    event.refresh_from_db()
    assert (event.status, event.attempts, event.next_attempt_at) == (EventStatus.DEAD, 3, None)
    assert process_inbound_event(event_id=event.pk) is None  # dead stays dead


def test_retry_delays_grow_exponentially(settings):
    settings.EVENT_RETRY_BASE_SECONDS = 10
    assert [retry_delay(n) for n in (1, 2, 3, 4)] == [10, 20, 40, 80]
    assert retry_delay(30) == 3600


def test_the_task_marks_the_event_through_the_same_service():
    event = stored(closed_event("c1", 2_000_000))
    assert process_task.apply(args=(event.pk,)).get() == EventStatus.PROCESSED


def test_the_task_is_declared_for_at_least_once_delivery():
    assert process_task.acks_late is True
    assert process_task.reject_on_worker_lost is True


def test_dead_events_can_be_requeued_and_then_processed(
    settings, django_capture_on_commit_callbacks
):
    event = stored(closed_event("c1", 2_000_000), status=EventStatus.DEAD, attempts=5)

    with django_capture_on_commit_callbacks(execute=True):
        assert requeue(event_ids=[event.pk]) == 1

    event.refresh_from_db()
    assert event.status == EventStatus.PROCESSED
    assert event.attempts == 1


def test_the_sweep_finds_stale_received_and_due_failed_events_only():
    old = timezone.now() - timedelta(minutes=5)
    stale = stored(closed_event("c1", 1))
    InboundEvent.objects.filter(pk=stale.pk).update(received_at=old)
    stored(closed_event("c2", 2))  # fresh: its own task is probably on the way
    due = stored(closed_event("c3", 3), status=EventStatus.FAILED, next_attempt_at=old)
    stored(
        closed_event("c4", 4),
        status=EventStatus.FAILED,
        next_attempt_at=timezone.now() + timedelta(hours=1),
    )
    stored(closed_event("c5", 5), status=EventStatus.DEAD)

    assert events_due() == sorted([stale.pk, due.pk])


@pytest.fixture
def unreachable_broker():
    """A real broker URL with nothing listening, as when Redis is down."""
    with celery_broker("redis://127.0.0.1:1/0", flush=False):
        yield


@pytest.mark.parametrize("relay", [True, False], ids=["through the relay", "inline"])
def test_broker_unreachable_still_answers_202_and_leaves_the_event_received(
    client,
    make_endpoint,
    unreachable_broker,
    django_capture_on_commit_callbacks,
    caplog,
    settings,
    relay,
):
    settings.WEBHOOK_TASK_RELAY = relay
    _, token = make_endpoint()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post(client, token, closed_event("c1", 2_000_000))

    assert len(callbacks) == 1  # the send was attempted, after commit
    assert response.status_code == 202
    assert InboundEvent.objects.get().status == EventStatus.RECEIVED
    # It failed on the connection itself (in the relay's thread, a moment
    # later), and said so.
    wait_until(lambda: "broker unreachable" in caplog.text, timeout=30, what="the warning")
    assert "Connection refused" in caplog.text


def test_a_task_applies_other_waiting_events_in_the_same_batch(settings):
    settings.EVENT_BATCH_SIZE = 10
    first, *others = [stored(closed_event(f"c{n}", 2_000_000)) for n in range(4)]

    result = process_inbound_event(event_id=first.pk)

    assert result is not None and result.status == EventStatus.PROCESSED
    assert set(InboundEvent.objects.values_list("status", "attempts")) == {
        (EventStatus.PROCESSED, 1)
    }
    assert Conversation.objects.count() == 4
    # Their own tasks, arriving later, find nothing left to do.
    assert [process_inbound_event(event_id=e.pk) for e in others] == [None, None, None]


def test_a_batch_records_each_events_own_outcome(settings):
    settings.EVENT_BATCH_SIZE = 10
    good = stored(closed_event("c1", 2_000_000))
    unknown = stored({"eventType": "chat.rated", "customer": {"id": "c2"}})
    invalid = stored({"eventType": "ThreadClosedEvent", "customer": {}})

    result = process_inbound_event(event_id=good.pk)

    assert result is not None and result.status == EventStatus.PROCESSED
    outcomes = {
        e.pk: (e.status, e.last_error, e.attempts, e.processed_at is not None)
        for e in InboundEvent.objects.all()
    }
    assert outcomes == {
        good.pk: (EventStatus.PROCESSED, "", 1, True),
        unknown.pk: (EventStatus.SKIPPED, "eventType 'chat.rated' is not archived", 1, True),
        invalid.pk: (EventStatus.REJECTED, "customer.id is missing or not a string", 1, True),
    }


def test_a_tasks_queries_do_not_grow_with_the_ids_one_batch_covers(settings):
    """The relay sends many ids per task; the first one's batch applies them
    all, and the rest must cost nothing per id (not one query each)."""
    settings.EVENT_BATCH_SIZE = 40

    def run_task(first_customer: int, ids_in_task: int) -> int:
        ids = [stored(closed_event(f"c{first_customer + n}", 2_000_000)).pk for n in range(40)]
        with CaptureQueriesContext(connection) as queries:
            assert process_events_task(ids[:ids_in_task]) == 1  # one batch took all 40
        assert InboundEvent.objects.filter(pk__in=ids, status=EventStatus.PROCESSED).count() == 40
        return len(queries)

    assert run_task(0, ids_in_task=40) == run_task(100, ids_in_task=2)


def test_a_failing_batch_falls_back_to_the_tasks_own_event_alone(settings, failing_archive):
    settings.EVENT_BATCH_SIZE = 10
    first, *others = [stored(closed_event(f"c{n}", 2_000_000)) for n in range(3)]

    result = process_inbound_event(event_id=first.pk)

    assert result is not None and result.status == EventStatus.FAILED
    first.refresh_from_db()
    assert (first.status, first.attempts) == (EventStatus.FAILED, 1)
    # The others were not touched: their own tasks will try them.
    assert {
        (e.status, e.attempts) for e in InboundEvent.objects.filter(pk__in=[o.pk for o in others])
    } == {(EventStatus.RECEIVED, 0)}
