"""Any number of concurrent workers build the archive one worker builds.

Real Celery worker processes (two workers of two processes each) take the
events of several customers, posted through the webhook in a shuffled order
with re-deliveries, all at once; the archive they build must equal the
in-order archive of the same events applied by one process, and no event may
need a retry (a deadlock or a lost lock shows up as a second attempt).
"""

import os
from contextlib import ExitStack
from uuid import uuid4

import pytest
from django.db import transaction
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversations.identity import CREATED
from conversations.services import IncomingEvent, apply_events
from tests.archive_state import customer_state
from tests.histories import event_keys, payload
from tests.processes import celery_broker, celery_worker, redis_url_for_tests, wait_until
from tests.webhook_client import post
from webhooks.models import EventStatus, InboundEvent

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WORKERS = 2
PROCESSES_PER_WORKER = 2
EXAMPLES = int(os.environ.get("WORKER_PROPERTY_EXAMPLES", "12"))

histories = st.lists(event_keys.filter(bool), min_size=2, max_size=4)


# 1: every event applied on its own, so the processes race event by event;
# 100 (the default): a worker takes the waiting events as one batch.
@pytest.mark.parametrize("batch_size", [1, 100])
def test_concurrent_workers_on_shuffled_redelivered_events_build_the_one_worker_archive(
    make_endpoint, batch_size
):
    _, token = make_endpoint()
    client = Client()
    broker = redis_url_for_tests()
    with ExitStack() as stack:
        stack.enter_context(celery_broker(broker))
        for _ in range(WORKERS):
            stack.enter_context(
                celery_worker(
                    broker,
                    f"--concurrency={PROCESSES_PER_WORKER}",
                    settings={"EVENT_BATCH_SIZE": str(batch_size)},
                )
            )

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )
        @given(histories=histories, data=st.data())
        def property_holds(histories, data):
            run = uuid4().hex[:10]
            deliveries = []
            for n, keys in enumerate(histories):
                in_order = sorted(set(keys), key=lambda k: (k[1], k[0] != CREATED))
                apply_events([IncomingEvent(payload(f"one-{run}-{n}", *key)) for key in in_order])
                again = data.draw(st.lists(st.sampled_from(keys), max_size=3), label="again")
                deliveries += [(f"many-{run}-{n}", key) for key in keys + again]
            shuffled = data.draw(st.permutations(deliveries), label="delivery order")

            # Received in one transaction, so every task is sent at its commit:
            # the workers take the events all at once, not as they trickle in.
            with transaction.atomic():
                for attempt, (customer_id, key) in enumerate(shuffled):
                    # A re-delivery with its own dedupe key, so a worker applies
                    # it again: the same event, a field the archive does not read.
                    body = {**payload(customer_id, *key), "deliveryAttempt": attempt}
                    assert post(client, token, body).status_code == 202

            mine = InboundEvent.objects.filter(customer_closer_id__startswith=f"many-{run}-")
            wait_until(
                lambda: not mine.exclude(status=EventStatus.PROCESSED).exists(),
                timeout=120,
                what="every event processed by the workers",
            )
            assert mine.count() == len(shuffled)
            assert sorted(mine.values_list("attempts", flat=True)) == [1] * len(shuffled)
            for n in range(len(histories)):
                assert customer_state(f"many-{run}-{n}") == customer_state(f"one-{run}-{n}")

        property_holds()
