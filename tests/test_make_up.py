"""`make up` runs the production shape: the README's two gunicorn pools,
a Celery worker and beat under honcho, after checking the services,
migrating and collecting static files (test_make_up_lifecycle.py: stopping
it, and refusing to start without PostgreSQL or Redis).

The stack runs from the Procfile against the test database and the test
Redis db, on free ports, with its settings in an env file as `.env` would
hold them (tests/stack.py)."""

import json
import re
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from conversations.models import Conversation
from tests.processes import wait_until
from tests.served import http_get
from tests.stack import Stack, make_up
from tests.webhook_client import hmac_headers
from webhooks.models import EventStatus, InboundEvent

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

HMAC_SECRET = "stack-hmac-secret-" + "s" * 32


@pytest.fixture(scope="module")
def stack(django_db_setup: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with make_up(tmp_path_factory.mktemp("stack")) as running:
        yield running


def test_make_up_prints_the_admin_login_and_where_each_pool_answers(stack):
    output = stack.output()

    assert f"Admin:     {stack.web_url}/admin/" in output
    assert re.search(r"Login:     admin / \S{12,}", output)
    assert f"Webhook:   {stack.webhooks_url}/webhooks/closer/" in output
    assert f"Swagger UI: {stack.web_url}/api/docs/" in output


def test_make_up_runs_the_webhooks_pool_on_sync_workers_and_the_admin_pool_on_threads(stack):
    output = stack.output()

    assert re.search(r"webhooks\.1 +\| .*Using worker: sync", output)
    assert re.search(r"web\.1 +\| .*Using worker: gthread", output)
    assert http_get(stack.web_url + "/admin/login/").status == 200


def test_make_up_runs_a_celery_worker_and_beat(stack):
    output = stack.output()

    assert re.search(r"worker\.1 +\| .*celery@\S+ ready\.", output)
    assert re.search(r"beat\.1 +\| .*beat: Starting\.\.\.", output)


def test_a_signed_webhook_through_the_webhooks_pool_is_processed_by_the_worker(
    stack, make_endpoint, closed_example
):
    endpoint, token = make_endpoint("stack", hmac_secrets=[HMAC_SECRET])
    body = json.dumps(closed_example).encode()
    request = urllib.request.Request(
        f"{stack.webhooks_url}/webhooks/closer/{token}/",
        data=body,
        headers={"Content-Type": "application/json", **hmac_headers(HMAC_SECRET, body)},
        method="POST",
    )

    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 202
    wait_until(
        lambda: InboundEvent.objects.filter(
            endpoint=endpoint, status=EventStatus.PROCESSED
        ).exists(),
        what="the worker to process the event",
    )
    event = InboundEvent.objects.get(endpoint=endpoint)
    conversation = Conversation.objects.get(customer__closer_id=event.customer_closer_id)
    assert conversation.message_count == 3
