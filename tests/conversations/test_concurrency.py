"""Concurrent workers on one customer: no interleaving, no deadlock."""

import random
import threading
from uuid import uuid4

import pytest
from django.db import connection

from conversations.services import IncomingEvent, apply_events
from tests.archive_state import customer_state
from tests.builders import closed_event, created_event

pytestmark = pytest.mark.django_db(transaction=True)


def run_in_threads(batches: list[list[dict]]) -> None:
    """Apply each batch in its own thread (own connection), all at once."""
    barrier = threading.Barrier(len(batches))
    errors: list[BaseException] = []

    def worker(batch: list[dict]) -> None:
        try:
            barrier.wait()
            apply_events([IncomingEvent(payload) for payload in batch])
        except BaseException as error:  # reported to the test below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # A thread still running after a minute is a deadlock or a lost wake-up.
    assert not [thread for thread in threads if thread.is_alive()], "a worker never finished"
    assert not errors, errors


def customer_events(customer_id: str, count: int) -> list[dict]:
    events = []
    for n in range(count):
        events.append(created_event(customer_id, 1_000_000 + n * 10_000))
        events.append(closed_event(customer_id, 1_005_000 + n * 10_000))
    return events


@pytest.mark.parametrize("seed", range(4))
def test_events_of_one_customer_applied_concurrently_give_the_sequential_archive(seed):
    concurrent, sequential = f"con-{uuid4()}", f"seq-{uuid4()}"
    apply_events([IncomingEvent(e) for e in customer_events(sequential, 6)])

    events = customer_events(concurrent, 6)
    random.Random(seed).shuffle(events)
    run_in_threads([[event] for event in events[:6]])
    run_in_threads([[event] for event in events[6:]])

    assert customer_state(concurrent) == customer_state(sequential)


def test_batches_spanning_the_same_customers_in_opposite_orders_do_not_deadlock():
    customers = [f"dl-{i}-{uuid4()}" for i in range(8)]
    forward = [closed_event(c, 2_000_000) for c in customers]
    backward = [closed_event(c, 3_000_000) for c in reversed(customers)]

    run_in_threads([forward, backward, list(reversed(forward)), list(reversed(backward))])

    for customer_id in customers:
        assert len(customer_state(customer_id)["conversations"]) == 2
