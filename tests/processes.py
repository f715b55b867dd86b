"""Real processes for end-to-end tests: a Celery worker on the test database."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import kombu.pools
import redis
from django.db import connection

from closerarchive.celery import app as celery_app

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def redis_url_for_tests() -> str:
    return os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def database_url_for_tests() -> str:
    """The URL of the database the test run created (test_<name>)."""
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _drop_publisher_connections() -> None:
    """Forget pooled broker connections so the next publish uses the new URL."""
    # Private attributes, not in the type stubs: Celery caches the pool and
    # kombu keeps a process-wide registry of pools keyed by connection.
    kombu.pools.reset()  # type: ignore[attr-defined]
    celery_app._pool = None  # type: ignore[attr-defined]
    celery_app.amqp._producer_pool = None  # type: ignore[attr-defined]


@contextmanager
def celery_broker(url: str, *, flush: bool = True) -> Iterator[None]:
    """Make this process publish tasks to ``url`` instead of running them eagerly."""
    # The app reads Django settings with the CELERY_ namespace: override those keys.
    keys = ("CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER")
    saved = {key: celery_app.conf[key] for key in keys}
    if flush:
        redis.Redis.from_url(url).flushdb()
    celery_app.conf.update(CELERY_BROKER_URL=url, CELERY_TASK_ALWAYS_EAGER=False)
    _drop_publisher_connections()
    try:
        yield
    finally:
        celery_app.conf.update(saved)
        _drop_publisher_connections()


@contextmanager
def celery_worker(
    broker_url: str,
    *extra_args: str,
    log_path: Path | None = None,
    quiet: bool = False,
    settings: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``celery worker`` against the test database; stop it afterwards.

    ``log_path``: where its output goes (discarded by default). ``quiet``:
    no start-up banner, so the output holds only log lines. ``settings``:
    more environment variables for it.
    """
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_tests(),
        "CELERY_BROKER_URL": broker_url,
        "EVENT_RETRY_BASE_SECONDS": "1",
        **(settings or {}),
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "closerarchive",
            *(["--quiet"] if quiet else []),
            "worker",
            "--loglevel=INFO",
            "--concurrency=1",
            "--pool=prefork",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            *extra_args,
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,  # so we can kill the worker and its children together
    )
    try:
        yield worker
    finally:
        stop_process_group(worker, timeout=20)
        if log_path:
            log.close()  # type: ignore[union-attr]


def stop_process_group(process: subprocess.Popen[bytes], *, timeout: float) -> None:
    """SIGTERM a process started with ``start_new_session`` and its children;
    SIGKILL them if they have not ended within ``timeout`` seconds."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_until(
    condition: Callable[[], Any], *, timeout: float = 60, what: str = "condition"
) -> Any:
    """Poll ``condition`` until it is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)
