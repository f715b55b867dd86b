"""From an HTTP POST to an archived conversation, through a real Celery worker."""

import json
import urllib.request

import pytest

from conversations.models import Conversation
from tests.processes import celery_broker, celery_worker, redis_url_for_tests, wait_until
from webhooks.models import EventStatus, InboundEvent

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def http_post(url: str, payload: dict) -> int:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


def test_a_webhook_posted_over_http_is_processed_by_a_real_worker(
    live_server, make_endpoint, created_example, closed_example
):
    _, token = make_endpoint()
    url = f"{live_server.url}/webhooks/closer/{token}/"
    broker = redis_url_for_tests()

    with celery_broker(broker), celery_worker(broker):
        assert http_post(url, closed_example) == 202
        assert http_post(url, created_example) == 202
        wait_until(
            lambda: InboundEvent.objects.filter(status=EventStatus.PROCESSED).count() == 2,
            what="both events processed by the worker",
        )

    conversation = Conversation.objects.get()
    assert conversation.status == "closed"
    assert not conversation.created_event_missing
    assert conversation.message_count == 3
    assert conversation.customer.first_name == "Jon"
