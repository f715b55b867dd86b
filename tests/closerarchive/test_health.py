"""/health/live and /health/ready against real services, broken for real.

The database goes away through the TCP proxy of tests/faults.py, the broker
and the cache are redis-servers of our own that the test kills and restarts,
a closed or a silent loopback port stands for a broker that is down or hung.
"""

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.cache import cache
from django.db import connection, connections
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from tests.builders import closed_event
from tests.faults import TcpProxy, free_port, private_redis
from tests.inbox import stored
from tests.processes import PROJECT_ROOT, celery_broker, redis_url_for_tests
from webhooks.models import EventStatus, InboundEvent
from webhooks.outbox import sweep

pytestmark = pytest.mark.django_db

ALL_OK = {"database", "migrations", "inbox", "cache", "broker"}
# The test settings: no CACHE_URL, no broker (tasks run eagerly).
EAGER_OK = {
    "database": "ok",
    "migrations": "ok",
    "inbox": "ok",
    "cache": "not configured",
    "broker": "not configured",
}
PASSWORD = "pw-that-must-not-leak-" + "q" * 10


def ready(client):
    response = client.get("/health/ready")
    return response.status_code, json.loads(response.content)


@pytest.fixture
def redis_cache(settings):
    """CACHE_URL set, as in production: the default cache is the test Redis."""
    settings.CACHE_URL = redis_url_for_tests()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": settings.CACHE_URL,
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }


@pytest.fixture
def database_proxy() -> Iterator[TcpProxy]:
    """Every connection of this process goes through a proxy to PostgreSQL
    (as in tests/webhooks/test_faults_database.py), with a password that
    PostgreSQL's trust authentication ignores and the answer must not show."""
    db = connection.settings_dict
    saved = db["HOST"], db["PORT"], db["PASSWORD"]
    proxy = TcpProxy((db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)))
    proxy.restore()
    connections.close_all()
    db["HOST"], db["PORT"], db["PASSWORD"] = "127.0.0.1", str(proxy.port), PASSWORD
    try:
        yield proxy
    finally:
        proxy.cut()
        connections.close_all()
        db["HOST"], db["PORT"], db["PASSWORD"] = saved


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never says a word: a hung server."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


# --- Everything up --------------------------------------------------------------


def test_ready_answers_200_with_every_check_ok_when_all_is_up(client, redis_cache):
    with celery_broker(redis_url_for_tests(), flush=False):
        status, body = ready(client)

    assert status == 200
    assert body == {"status": "ok", "checks": dict.fromkeys(ALL_OK, "ok")}


def test_ready_reports_broker_and_cache_as_not_configured_without_their_urls(client):
    assert ready(client) == (200, {"status": "ok", "checks": EAGER_OK})


def test_live_answers_200_without_a_single_query(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/health/live")

    assert response.status_code == 200
    assert json.loads(response.content) == {"status": "ok"}


# --- The database -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_ready_turns_503_while_the_database_is_unreachable_and_200_once_it_is_back(
    client, database_proxy
):
    assert ready(client)[0] == 200

    database_proxy.cut()
    status, body = ready(client)
    assert status == 503
    assert body == {
        "status": "unavailable",
        "checks": {
            "database": "unreachable",
            "migrations": "not checked",
            "inbox": "not checked",
            "cache": "not configured",
            "broker": "not configured",
        },
    }

    database_proxy.restore()
    assert ready(client) == (200, {"status": "ok", "checks": EAGER_OK})


@pytest.mark.django_db(transaction=True)
def test_live_stays_200_while_the_database_is_unreachable(client, database_proxy):
    database_proxy.cut()

    assert client.get("/health/live").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_the_answer_never_shows_the_database_url_password_or_host(client, database_proxy):
    database_proxy.cut()
    response = client.get("/health/ready")

    db = connection.settings_dict
    text = response.content.decode()
    assert response.status_code == 503
    for secret in (PASSWORD, db["HOST"], str(database_proxy.port), db["NAME"], "postgres"):
        assert secret not in text


# --- The broker ---------------------------------------------------------------------


@pytest.mark.slow
def test_ready_turns_503_while_the_broker_is_down_and_200_once_it_is_back(client, tmp_path):
    with private_redis(tmp_path) as broker, celery_broker(broker.url, flush=False):
        assert ready(client)[0] == 200

        broker.stop()
        status, body = ready(client)
        assert status == 503
        assert body["checks"]["broker"] == "unreachable"
        assert body["checks"] == EAGER_OK | {"broker": "unreachable"}

        broker.start()
        assert ready(client) == (200, {"status": "ok", "checks": EAGER_OK | {"broker": "ok"}})


@pytest.mark.parametrize("scheme", ["redis", "amqp"])
def test_a_broker_on_a_closed_port_turns_ready_503_at_once_without_showing_its_url(client, scheme):
    port = free_port()  # nothing listens there
    url = {
        "redis": f"redis://:{PASSWORD}@127.0.0.1:{port}/0",
        "amqp": f"amqp://guest:{PASSWORD}@127.0.0.1:{port}//",
    }[scheme]
    with celery_broker(url, flush=False):
        started = time.monotonic()
        response = client.get("/health/ready")
        elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert json.loads(response.content)["checks"]["broker"] == "unreachable"
    assert elapsed < 2  # refused: no connect timeout to wait for, no retries
    assert PASSWORD not in response.content.decode()
    assert str(port) not in response.content.decode()


@pytest.mark.parametrize("scheme", ["redis", "amqp"])
def test_a_broker_that_never_answers_turns_ready_503_within_the_connect_timeout(
    client, settings, silent_port, scheme
):
    url = {
        "redis": f"redis://127.0.0.1:{silent_port}/0",
        "amqp": f"amqp://guest:guest@127.0.0.1:{silent_port}//",
    }[scheme]
    with celery_broker(url, flush=False):
        started = time.monotonic()
        status, body = ready(client)
        elapsed = time.monotonic() - started

    assert status == 503
    assert body["checks"]["broker"] == "unreachable"
    assert elapsed < settings.CELERY_BROKER_CONNECTION_TIMEOUT + 2


# --- The cache --------------------------------------------------------------------


@pytest.mark.slow
def test_ready_turns_503_while_the_cache_is_down_and_200_once_it_is_back(
    client, settings, tmp_path
):
    with private_redis(tmp_path) as server:
        settings.CACHE_URL = server.url
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": server.url,
                "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
            }
        }
        assert ready(client)[1]["checks"]["cache"] == "ok"

        server.stop()
        cache.close()  # drop the pooled connection, as a restart would break it
        status, body = ready(client)
        assert (status, body["checks"]["cache"]) == (503, "unreachable")

        server.start()
        assert ready(client)[0] == 200


# --- The inbox -------------------------------------------------------------------


def waited(event: InboundEvent, seconds: float) -> None:
    """Make ``event`` look as if it arrived ``seconds`` ago."""
    InboundEvent.objects.filter(pk=event.pk).update(
        received_at=timezone.now() - timedelta(seconds=seconds)
    )


def test_ready_turns_503_when_an_event_has_waited_in_received_past_the_limit(client, settings):
    settings.HEALTH_MAX_RECEIVED_AGE_SECONDS = 300
    waited(stored(closed_event("c1", 2_000_000)), 400)

    status, body = ready(client)

    assert status == 503
    assert body["checks"]["inbox"].startswith("stalled: an event has waited 4")
    assert body["checks"]["inbox"].endswith("s in received (limit 300 s)")


def test_ready_is_200_again_once_the_sweep_has_processed_the_stalled_event(client, settings):
    settings.HEALTH_MAX_RECEIVED_AGE_SECONDS = 300
    event = stored(closed_event("c1", 2_000_000))
    waited(event, 400)
    assert ready(client)[0] == 503

    sweep(grace_seconds=settings.SWEEP_GRACE_SECONDS, resend_after_seconds=300)  # tasks eager

    event.refresh_from_db()
    assert event.status == EventStatus.PROCESSED
    assert ready(client) == (200, {"status": "ok", "checks": EAGER_OK})


def test_events_waiting_less_than_the_limit_keep_ready_green(client, settings):
    settings.HEALTH_MAX_RECEIVED_AGE_SECONDS = 300
    waited(stored(closed_event("c1", 2_000_000)), 200)
    stored(closed_event("c2", 2_000_000))
    waited(stored(closed_event("c3", 2_000_000), status=EventStatus.DEAD), 10_000)

    status, body = ready(client)

    assert status == 200
    assert body["checks"]["inbox"] == "ok"


def test_the_stalled_inbox_query_reads_one_entry_of_its_partial_index():
    """The oldest `received` event comes from inbound_received_age_idx in
    order: no sort, no scan of every waiting row, whatever the backlog."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        query = (
            InboundEvent.objects.filter(status=EventStatus.RECEIVED)
            .order_by("received_at")
            .values_list("received_at", flat=True)[:1]
        )
        sql, params = query.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)  # the ORM's own SQL
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "inbound_received_age_idx" in plan
    assert "Sort" not in plan
    assert InboundEvent.objects.oldest_received_at() is None


# --- Migrations --------------------------------------------------------------------


def test_ready_turns_503_while_a_migration_is_unapplied_and_200_once_it_is(client):
    recorder = MigrationRecorder(connection)
    latest = recorder.migration_qs.filter(app="webhooks").order_by("-applied").first()
    latest.delete()  # rolled back with the test's transaction

    status, body = ready(client)
    assert (status, body["checks"]["migrations"]) == (503, "unapplied migrations")

    recorder.record_applied(latest.app, latest.name)
    assert ready(client)[0] == 200


# --- How the URLs are served ---------------------------------------------------------


@pytest.mark.parametrize("url", ["/health/live", "/health/ready"])
def test_health_urls_answer_as_given_never_redirected(client, settings, url):
    settings.APPEND_SLASH = True
    settings.SECURE_SSL_REDIRECT = True  # production: plain HTTP from the proxy still answers

    response = client.get(url)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("url", ["/health/live", "/health/ready"])
def test_health_answers_are_never_cached(client, url):
    cache_control = client.get(url)["Cache-Control"]

    assert "no-store" in cache_control
    assert "max-age=0" in cache_control


@pytest.mark.parametrize("url", ["/health/live", "/health/ready"])
def test_health_urls_answer_get_and_head_only(client, url):
    assert client.head(url).status_code == 200
    assert client.post(url).status_code == 405


def test_health_needs_no_login_and_is_not_counted_by_axes(client, settings):
    # Lock this address out of the admin for the user "admin".
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/admin/login/", {"username": "admin", "password": "wrong"})
    assert client.post("/admin/login/", {"username": "admin", "password": "x"}).status_code == 429
    attempts = list(AccessAttempt.objects.values_list("failures_since_start", flat=True))

    assert client.get("/health/ready").status_code == 200
    assert client.get("/health/live").status_code == 200
    assert list(AccessAttempt.objects.values_list("failures_since_start", flat=True)) == attempts


# --- The setting ------------------------------------------------------------------


def test_a_stall_limit_within_the_sweeps_grace_and_interval_refuses_to_start():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=PROJECT_ROOT,
        env={
            **os.environ,
            "SWEEP_GRACE_SECONDS": "60",
            "SWEEP_INTERVAL_SECONDS": "60",
            "HEALTH_MAX_RECEIVED_AGE_SECONDS": "120",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode != 0
    assert "HEALTH_MAX_RECEIVED_AGE_SECONDS=120 must exceed" in result.stderr
