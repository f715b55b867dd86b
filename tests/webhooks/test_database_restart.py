"""A web process that kept its database connection while PostgreSQL restarted.

With persistent connections (``DATABASE_CONN_MAX_AGE`` > 0) a gunicorn worker
holds a connection between requests. A PostgreSQL restart ends it on the
server side while the worker is idle; Django's health check
(``DATABASE_CONN_HEALTH_CHECKS``) finds that before the request's first
query and reconnects. The webhook's INSERT has its own cursor
(webhooks/inbox_insert.py), so it must run the same check, or the first
webhook after a restart gets 503. The shared PostgreSQL is never restarted:
this test restarts a private cluster (tests/private_postgres.py).
"""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from tests.builders import closed_event
from tests.faults import free_port, http_post
from tests.private_postgres import PrivatePostgres, private_postgres
from tests.processes import PROJECT_ROOT, wait_until

pytestmark = pytest.mark.slow

DATABASE = "closer_archive"


def manage(*args: str, env: dict[str, str]) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout


@contextmanager
def gunicorn(env: dict[str, str]) -> Iterator[str]:
    """One sync worker on a free port; yields its base URL once it answers."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "closerarchive.wsgi",
         "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            urllib.request.urlopen(f"{base}/no-such-page/", timeout=5)
        except urllib.error.HTTPError:
            return True  # any HTTP answer (404)
        except OSError:
            return False
        return True

    try:
        wait_until(answers, timeout=30, what="gunicorn to answer")
        yield base
    finally:
        server.terminate()
        server.wait(timeout=20)


def server_sessions(cluster: PrivatePostgres) -> int:
    """Client backends connected to the archive database, this query's own excluded."""
    with psycopg.connect(cluster.url(DATABASE), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [DATABASE],
        ).fetchone()
    return int(row[0]) if row else 0


def restart_under_an_idle_web_process(*, health_checks: bool) -> list[int]:
    """Post a webhook to gunicorn on a private cluster, restart the cluster
    while the worker idles on its kept connection, post two more; return the
    three statuses. Checks that every accepted event was stored."""
    with private_postgres() as cluster:
        with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
        env = {
            **os.environ,
            "DATABASE_URL": cluster.url(DATABASE),
            "DATABASE_CONN_MAX_AGE": "60",
            "DATABASE_CONN_HEALTH_CHECKS": "1" if health_checks else "0",
            # The endpoint is read once and kept: the webhook's INSERT is then
            # the first query of the request after the restart.
            "WEBHOOK_ENDPOINT_CACHE_SECONDS": "3600",
            "CELERY_BROKER_URL": "",  # processing runs in the worker, after commit
        }
        manage("migrate", "--no-input", "-v", "0", env=env)
        token = json.loads(manage("create_endpoint", "restart", "--json", env=env))["token"]

        statuses = []
        with gunicorn(env) as base:
            url = f"{base}/webhooks/closer/{token}/"
            statuses.append(http_post(url, closed_event("c1", 1_700_000_000_000))[0])
            assert server_sessions(cluster) == 1  # the worker kept its connection

            cluster.restart()
            assert server_sessions(cluster) == 0  # ... and the restart ended it

            for n in (2, 3):
                statuses.append(http_post(url, closed_event(f"c{n}", 1_700_000_000_000 + n))[0])

        with psycopg.connect(cluster.url(DATABASE)) as conn:
            row = conn.execute("SELECT count(*) FROM webhooks_inboundevent").fetchone()
        assert row == (statuses.count(202),)
        return statuses


def test_the_first_webhook_after_a_database_restart_is_accepted():
    assert restart_under_an_idle_web_process(health_checks=True) == [202, 202, 202]


def test_without_health_checks_the_first_webhook_after_a_restart_gets_503_and_the_next_reconnects():
    """What DATABASE_CONN_HEALTH_CHECKS=0 costs: one 503 per web process
    (the sender retries it), so the setting reaches the webhook's INSERT too."""
    assert restart_under_an_idle_web_process(health_checks=False) == [202, 503, 202]
