"""A Celery worker killed with SIGKILL in the middle of a task, mid-stream.

To be sure the kill lands inside a task (not between two), the test holds a
row lock on one customer from its own connection: the worker's task for that
customer's event blocks inside its transaction, which the test sees in
``pg_stat_activity``, and that is when the worker dies. Afterwards every
event must be processed exactly once and every customer's archive must equal
what applying all their events in one clean pass gives.
"""

import os
import random
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import psycopg
import pytest
from django.db import connection

from conversations.models import Customer
from conversations.services import IncomingEvent, apply_events
from tests.archive_state import customer_state
from tests.builders import closed_event, created_event
from tests.faults import http_post, kill_group, pool_children, rabbitmq_vhost
from tests.processes import (
    celery_broker,
    celery_worker,
    database_url_for_tests,
    redis_url_for_tests,
    wait_until,
)
from webhooks.canonical import canonical_json
from webhooks.models import EventStatus, InboundEvent
from webhooks.outbox import sweep

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CUSTOMERS = 20
BLOCKED = "customer-0"


def event_stream(seed: int = 7) -> list[dict]:
    """Each customer: two complete conversations, one whose created event is
    missing and a last open one; shuffled, with some re-deliveries."""
    events = []
    for n in range(CUSTOMERS):
        base = 1_700_000_000_000 + n * 10_000_000
        customer = f"customer-{n}"
        events += [
            created_event(customer, base),
            closed_event(customer, base + 100_000),
            created_event(customer, base + 200_000),
            closed_event(customer, base + 300_000, closed_type="abandoned"),
            closed_event(customer, base + 500_000),
            created_event(customer, base + 600_000),
        ]
    rng = random.Random(seed)
    events += rng.sample(events, len(events) // 10)  # Closer retries
    rng.shuffle(events)
    # The blocked customer's first event comes early, so the kill is mid-stream.
    first_blocked = next(i for i, e in enumerate(events) if e["customer"]["id"] == BLOCKED)
    events.insert(10, events.pop(first_blocked))
    return events


def archive_snapshot() -> dict:
    return {closer_id: customer_state(closer_id) for closer_id in sorted(customer_ids())}


def customer_ids() -> list[str]:
    return list(Customer.objects.values_list("closer_id", flat=True))


def a_task_is_waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def all_processed() -> bool:
    # A task killed mid-way leaves its event `received` (its transaction never
    # committed) and the broker keeps the unacknowledged message until the
    # visibility timeout: the sweep is what sends it again now.
    sweep(grace_seconds=0, resend_after_seconds=2)
    return not InboundEvent.objects.exclude(status=EventStatus.PROCESSED).exists()


@contextmanager
def broker_for(kind: str) -> Iterator[str]:
    if kind == "rabbitmq":
        with rabbitmq_vhost() as url, celery_broker(url, flush=False):
            yield url
    else:
        with celery_broker(redis_url_for_tests()):
            yield redis_url_for_tests()


@pytest.mark.parametrize(
    "broker_kind, victim",
    [("redis", "whole worker"), ("redis", "pool process"), ("rabbitmq", "whole worker")],
)
def test_a_worker_killed_mid_task_loses_and_duplicates_nothing(
    live_server, make_endpoint, tmp_path, broker_kind, victim
):
    _, token = make_endpoint()
    url = f"{live_server.url}/webhooks/closer/{token}/"
    stream = event_stream()
    half = len(stream) // 2
    Customer.objects.create(closer_id=BLOCKED)  # so the test can lock its row

    with broker_for(broker_kind) as broker, ThreadPoolExecutor(max_workers=4) as senders:
        blocker = psycopg.connect(database_url_for_tests())
        blocker.execute(
            "SELECT 1 FROM conversations_customer WHERE closer_id = %s FOR UPDATE", [BLOCKED]
        )
        worker_log = tmp_path / "worker.log"
        with celery_worker(broker, log_path=worker_log) as worker:
            assert {s for s, _ in senders.map(lambda e: http_post(url, e), stream[:half])} <= {
                200,
                202,
            }
            wait_until(a_task_is_waiting_on_a_lock, what="a task blocked inside its transaction")
            if victim == "whole worker":
                kill_group(worker)  # the unacknowledged task stays with the broker
            else:
                # The pool process dies; its parent sees it and, because of
                # task_reject_on_worker_lost, gives the task back to the queue.
                (child,) = pool_children(worker.pid)
                os.kill(child, signal.SIGKILL)
            blocker.rollback()
            blocker.close()
            assert {s for s, _ in senders.map(lambda e: http_post(url, e), stream[half:])} <= {
                200,
                202,
            }
            if victim == "pool process":
                wait_until(all_processed, timeout=180, what="every event processed")
        if victim == "whole worker":
            with celery_worker(broker, log_path=worker_log):
                wait_until(all_processed, timeout=180, what="every event processed")

    assert InboundEvent.objects.count() == len({canonical_json(e) for e in stream})
    # Each event applied once: the killed attempt was rolled back with its task.
    assert set(InboundEvent.objects.values_list("attempts", flat=True)) == {1}
    after_the_crash = archive_snapshot()
    assert len(after_the_crash) == CUSTOMERS

    # The same events applied in one clean pass give the same archive.
    Customer.objects.all().delete()
    apply_events([IncomingEvent(payload=event) for event in stream])
    assert archive_snapshot() == after_the_crash
