"""The broker dies while webhooks arrive: nothing is lost, nothing is applied twice.

A private redis-server (never the machine's shared one) is the broker of a
real Celery worker. It is killed (SIGKILL, no persistence: every queued task
in it is lost too) after the first 150 of 500 webhooks and started again,
empty, after 350. Every request must still get 202; after the broker is back
and the sweep has run, every event is processed exactly once.
"""

from concurrent.futures import ThreadPoolExecutor, as_completed

import pytest
from django.core.management import call_command

from conversations.models import Conversation, Message
from tests.builders import closed_event
from tests.faults import http_post, private_redis
from tests.processes import celery_broker, celery_worker, wait_until
from webhooks.models import EventStatus, InboundEvent

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WEBHOOKS = 500
STOP_AFTER, RESTART_AFTER = 150, 350


def webhooks() -> list[dict]:
    """500 distinct closed conversations: 100 customers with 5 each."""
    return [
        closed_event(f"customer-{n % 100}", 1_700_000_000_000 + n * 60_000) for n in range(WEBHOOKS)
    ]


def test_webhooks_sent_while_the_broker_is_down_are_all_processed_once_it_returns(
    live_server, make_endpoint, tmp_path
):
    _, token = make_endpoint()
    url = f"{live_server.url}/webhooks/closer/{token}/"
    answers: list[int] = []

    with (
        private_redis(tmp_path) as broker,
        celery_broker(broker.url),
        celery_worker(broker.url, log_path=tmp_path / "worker.log"),
        ThreadPoolExecutor(max_workers=8) as senders,
    ):
        futures = [senders.submit(http_post, url, payload) for payload in webhooks()]
        for future in as_completed(futures):
            answers.append(future.result()[0])
            if len(answers) == STOP_AFTER:
                broker.stop()
            elif len(answers) == RESTART_AFTER:
                broker.start()

        assert answers == [202] * WEBHOOKS  # every one acknowledged, broker or not
        assert InboundEvent.objects.count() == WEBHOOKS

        # What the broker lost, or never got, the sweep sends again.
        call_command("sweep_events", "--grace", "0")
        wait_until(
            lambda: InboundEvent.objects.filter(status=EventStatus.PROCESSED).count() == WEBHOOKS,
            timeout=180,
            what="every event processed after the broker returned",
        )

    # None lost, none applied twice.
    assert set(InboundEvent.objects.values_list("attempts", flat=True)) == {1}
    assert Conversation.objects.count() == WEBHOOKS
    assert Message.objects.count() == 2 * WEBHOOKS
