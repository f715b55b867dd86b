"""PostgreSQL unreachable during a burst of webhooks.

The app reaches PostgreSQL through a TCP proxy the test controls (loopback);
cutting it refuses new connections and breaks the open ones, as a database
restart or a network fault would. The shared PostgreSQL itself keeps running.
"""

from concurrent.futures import ThreadPoolExecutor, as_completed

import pytest
from django.db import connection, connections

from tests.builders import closed_event
from tests.faults import TcpProxy, http_post
from webhooks.models import EventStatus, InboundEvent
from webhooks.outbox import sweep

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BURST = 300
CUT_AFTER, RESTORE_AFTER = 100, 200


@pytest.fixture
def database_proxy():
    """Point every connection of this process (the live server's threads
    included: they share the settings dict) at a proxy to PostgreSQL."""
    db = connection.settings_dict
    saved = db["HOST"], db["PORT"]
    proxy = TcpProxy((db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)))
    proxy.restore()
    connections.close_all()
    db["HOST"], db["PORT"] = "127.0.0.1", str(proxy.port)
    try:
        yield proxy
    finally:
        proxy.cut()
        connections.close_all()
        db["HOST"], db["PORT"] = saved


def test_while_the_database_is_unreachable_the_view_answers_503_and_stores_nothing_it_acknowledged(
    live_server, make_endpoint, database_proxy, settings
):
    settings.EVENT_RETRY_BASE_SECONDS = 0  # failed processing is due again at once
    _, token = make_endpoint()
    url = f"{live_server.url}/webhooks/closer/{token}/"
    payloads = [closed_event(f"c{n}", 1_700_000_000_000 + n) for n in range(BURST)]

    answers: list[tuple[int, dict, dict]] = []
    with ThreadPoolExecutor(max_workers=8) as senders:
        futures = {senders.submit(http_post, url, payload): payload for payload in payloads}
        for future in as_completed(futures):
            status, body = future.result()
            answers.append((status, body, futures[future]))
            if len(answers) == CUT_AFTER:
                database_proxy.cut()
            elif len(answers) == RESTORE_AFTER:
                database_proxy.restore()

    connections.close_all()  # this thread's own connection was broken by the cut too
    statuses = [status for status, _, _ in answers]
    assert set(statuses) == {202, 503}
    assert statuses.count(503) >= 50  # the cut lasted at least that many requests
    # Never a 2xx for an event that was not stored.
    acknowledged = {body["id"]: payload for status, body, payload in answers if status == 202}
    stored = InboundEvent.objects.in_bulk(list(acknowledged))
    assert set(stored) == set(acknowledged)

    # The sender retries what got 503; once the database is back, all is stored
    # once (a 503 whose insert had in fact committed comes back as a duplicate).
    retried = [http_post(url, payload)[0] for status, _, payload in answers if status == 503]
    assert set(retried) <= {200, 202}
    assert InboundEvent.objects.count() == BURST

    # Processing that the cut interrupted is finished by the sweep.
    sweep(grace_seconds=0, resend_after_seconds=1)
    assert InboundEvent.objects.filter(status=EventStatus.PROCESSED).count() == BURST


def test_psycopg_is_a_release_with_the_fix_for_its_dumper_race():
    """psycopg/psycopg#1230: the first queries of concurrent threads could fail
    with "cannot adapt type 'IPv4Address'" (seen as 503s under gunicorn).
    Fixed in psycopg 3.3.2; the project relies on that, not on a workaround."""
    import psycopg

    release = tuple(int(part) for part in psycopg.__version__.split(".")[:3])
    assert release >= (3, 3, 2)
