"""/metrics in prometheus_client's multiprocess mode: the counts of several
processes (gunicorn workers, Celery worker processes, a backfill) add up.

prometheus_client picks its mode when it is imported, from
PROMETHEUS_MULTIPROC_DIR, so the counting happens in processes started with
the variable set; the view of this process reads their files when the
variable is set at request time.
"""

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.builders import closed_event
from tests.faults import free_port
from tests.metrics_text import (
    LAG_COUNT,
    OLDEST_WAITING,
    RECEIVED,
    WORKER_EVENTS,
    samples,
    scrape,
    value,
)
from tests.processes import (
    PROJECT_ROOT,
    celery_broker,
    celery_worker,
    database_url_for_tests,
    redis_url_for_tests,
    wait_until,
)
from webhooks.models import EventStatus, InboundEvent

COUNT_WEBHOOKS = """
import sys, django
django.setup()
from webhooks import metrics
for _ in range(int(sys.argv[1])):
    metrics.count_webhook("multi", 202)
"""


@pytest.fixture
def multiproc_dir(tmp_path, monkeypatch, settings):
    """An empty PROMETHEUS_MULTIPROC_DIR, set for the processes this test
    starts and for this process's /metrics view."""
    directory = tmp_path / "prometheus"
    directory.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    monkeypatch.delenv("METRICS_TOKEN", raising=False)
    settings.METRICS_TOKEN = ""
    return directory


def count_in_a_process(times: int) -> None:
    subprocess.run(
        [sys.executable, "-c", COUNT_WEBHOOKS, str(times)],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "closerarchive.settings"},
        check=True,
        timeout=60,
    )


@pytest.mark.slow
@pytest.mark.django_db
def test_the_view_sums_the_counts_of_every_process(client, multiproc_dir):
    count_in_a_process(2)
    count_in_a_process(3)

    text = scrape(client)

    assert value(text, RECEIVED, endpoint="multi", code="202") == 5
    assert len(list(multiproc_dir.glob("counter_*.db"))) >= 2  # one file per process


@pytest.mark.slow
@pytest.mark.django_db
def test_in_multiprocess_mode_the_oldest_waiting_gauge_is_given_once(client, multiproc_dir):
    count_in_a_process(1)

    assert samples(scrape(client), OLDEST_WAITING) == [0.0]


@pytest.mark.slow
def test_a_bad_multiproc_dir_stops_start_up(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "missing")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "PROMETHEUS_MULTIPROC_DIR" in result.stderr
    assert "is not a directory" in result.stderr


# --- gunicorn workers and a Celery worker, for real -----------------------------------


def http(url: str, body: bytes | None = None) -> tuple[int, str]:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"} if body else {}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.read().decode()


def gunicorn_workers(master: subprocess.Popen[bytes]) -> list[int]:
    children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text()
    return [int(pid) for pid in children.split()]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_gunicorn_workers_and_a_celery_worker_add_up_in_metrics(make_endpoint, multiproc_dir):
    endpoint, token = make_endpoint("multi-process")
    port, broker, events = free_port(), redis_url_for_tests(), 6
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_tests(),
        "CELERY_BROKER_URL": broker,
        "WEBHOOK_RELAY_LINGER_MS": "0",
    }
    with celery_broker(broker), celery_worker(broker):
        server = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "closerarchive.wsgi",
                "--bind", f"127.0.0.1:{port}", "--workers", "2",
            ],
            cwd=PROJECT_ROOT,  # gunicorn reads ./gunicorn.conf.py (the child_exit hook)
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until(lambda: _answers(f"{base}/metrics"), timeout=60, what="gunicorn")
            for number in range(events):
                body = json.dumps(closed_event(f"c{number}", 2_000_000)).encode()
                assert http(f"{base}/webhooks/closer/{token}/", body)[0] == 202
            wait_until(
                lambda: InboundEvent.objects.filter(status=EventStatus.PROCESSED).count() == events,
                what="the Celery worker to process every event",
            )
            text = http(f"{base}/metrics")[1]
            # A gunicorn worker that dies takes none of its counts with it.
            killed = gunicorn_workers(server)[0]
            os.kill(killed, signal.SIGTERM)
            wait_until(
                lambda: killed not in (workers := gunicorn_workers(server)) and len(workers) == 2,
                what="another worker in its place",
            )
            wait_until(lambda: _answers(f"{base}/metrics"), timeout=60, what="gunicorn")
            after_a_worker_died = http(f"{base}/metrics")[1]
        finally:
            server.terminate()
            server.wait(timeout=30)

    for scraped in (text, after_a_worker_died):
        assert value(scraped, RECEIVED, endpoint=endpoint.name, code="202") == events
        assert value(scraped, WORKER_EVENTS, status="processed") == events  # Celery's process
        assert value(scraped, LAG_COUNT) == events
        assert samples(scraped, OLDEST_WAITING) == [0.0]


def _answers(url: str) -> bool:
    try:
        return http(url)[0] == 200
    except OSError:
        return False
