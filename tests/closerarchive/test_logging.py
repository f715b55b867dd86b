"""LOG_FORMAT=json, and the same redaction in every process that logs: a
management command, a Celery worker, gunicorn."""

import json
import os
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from closerarchive.celery import app as celery_app
from closerarchive.redaction import redact
from tests.faults import free_port
from tests.processes import (
    PROJECT_ROOT,
    celery_broker,
    celery_worker,
    redis_url_for_tests,
    wait_until,
)

TOKEN = secrets.token_urlsafe(32)

# Logs a webhook URL as an argument, then an exception whose message quotes it.
LOGGING_SCRIPT = f"""
import logging
log = logging.getLogger("webhooks")
log.warning("Unauthorized: %s", "/webhooks/closer/{TOKEN}/")
try:
    raise RuntimeError("cannot reach https://archive.example.com/webhooks/closer/{TOKEN}/")
except RuntimeError:
    log.exception("delivery failed")
"""


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line as a JSON object; fails on a line that is not one."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def by_message(lines: list[dict[str, Any]], part: str) -> dict[str, Any]:
    """The first line whose message contains ``part``."""
    found = [line for line in lines if part in line["message"]]
    assert found, f"no log line with {part!r} in {lines}"
    return found[0]


@pytest.mark.parametrize(
    "text",
    [
        f"/webhooks/closer/{TOKEN}/",
        f"https://archive.example.com/webhooks/closer/{TOKEN}?x=1",
        f"next=%2Fwebhooks%2Fcloser%2F{TOKEN}%2F",
        f"<WSGIRequest: POST '/webhooks/closer/{TOKEN}/'>",
    ],
)
def test_redact_removes_the_token_and_is_idempotent(text):
    once = redact(text)

    assert TOKEN not in once and "<redacted>" in once
    assert redact(once) == once


@pytest.mark.slow
def test_log_format_json_writes_one_json_object_per_line_with_the_token_redacted():
    result = manage("shell", "-c", LOGGING_SCRIPT, env={"LOG_FORMAT": "json"})

    assert result.returncode == 0, result.stderr
    lines = json_lines(result.stderr)
    warning = by_message(lines, "Unauthorized")
    assert warning["message"] == "Unauthorized: /webhooks/closer/<redacted>/"
    assert warning["level"] == "WARNING" and warning["logger"] == "webhooks"
    assert warning["time"].endswith("Z")
    failure = by_message(lines, "delivery failed")
    assert failure["level"] == "ERROR"
    assert failure["exception"].startswith("Traceback (most recent call last):")
    assert (
        "RuntimeError: cannot reach https://archive.example.com/webhooks/closer/<redacted>/"
        in (failure["exception"])
    )
    assert TOKEN not in result.stderr


@pytest.mark.slow
def test_log_format_plain_redacts_the_token_too():
    result = manage("shell", "-c", LOGGING_SCRIPT, env={"LOG_FORMAT": "plain"})

    assert result.returncode == 0, result.stderr
    assert " WARNING webhooks Unauthorized: /webhooks/closer/<redacted>/" in result.stderr
    assert "cannot reach https://archive.example.com/webhooks/closer/<redacted>/" in result.stderr
    assert TOKEN not in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("variable", "value", "error"),
    [
        ("LOG_FORMAT", "yaml", "LOG_FORMAT='yaml' is not one of: plain, json"),
        ("SENTRY_TRACES_SAMPLE_RATE", "1.5", "SENTRY_TRACES_SAMPLE_RATE='1.5' must be between"),
        ("SENTRY_TRACES_SAMPLE_RATE", "-0.1", "SENTRY_TRACES_SAMPLE_RATE='-0.1' must be between"),
        ("SENTRY_TRACES_SAMPLE_RATE", "often", "SENTRY_TRACES_SAMPLE_RATE='often' is not a number"),
    ],
)
def test_a_bad_logging_or_sentry_setting_stops_start_up_with_a_clear_error(variable, value, error):
    result = manage("check", env={variable: value})

    assert result.returncode != 0
    assert f"ImproperlyConfigured: {error}" in result.stderr


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_celery_worker_logs_json_through_the_projects_redaction(tmp_path, monkeypatch):
    monkeypatch.setenv("LOG_FORMAT", "json")
    log_path = tmp_path / "worker.log"
    url = f"https://archive.example.com/webhooks/closer/{TOKEN}/"
    broker = redis_url_for_tests()

    with (
        celery_broker(broker),
        celery_worker(
            broker, "--include", "tests.closerarchive.worker_tasks", log_path=log_path, quiet=True
        ),
    ):
        celery_app.send_task("tests.closerarchive.log_webhook_url", args=[url])
        wait_until(
            lambda: "raised unexpected" in log_path.read_text(),
            timeout=60,
            what="the worker to log the task's failure",
        )
        # Read before the worker stops: at shutdown Celery prints (not logs)
        # "worker: Warm shutdown (MainProcess)", the one line it never logs.
        output = log_path.read_text()

    lines = json_lines(output)
    delivering = by_message(lines, "delivering to")
    assert delivering["message"] == (
        "delivering to https://archive.example.com/webhooks/closer/<redacted>/"
    )
    assert delivering["logger"] == "tests.closerarchive.worker_tasks"
    failure = by_message(lines, "raised unexpected")
    assert failure["logger"] == "celery.app.trace" and failure["level"] == "ERROR"
    assert "webhooks/closer/<redacted>/" in failure["message"]
    assert (
        "RuntimeError: could not deliver to https://archive.example.com/webhooks/closer/<redacted>/"
        in (failure["exception"])
    )
    assert TOKEN not in output


def answered(url: str) -> bool:
    try:
        urllib.request.urlopen(urllib.request.Request(url, data=b"{}", method="POST"), timeout=5)
    except urllib.error.HTTPError:
        return True  # any HTTP answer: 415 here
    except OSError:
        return False
    return True


@pytest.mark.slow
def test_gunicorn_logs_json_with_the_token_redacted(tmp_path: Path):
    port = free_port()
    access_log, error_log = tmp_path / "access.log", tmp_path / "error.log"
    server = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "closerarchive.wsgi",
            "--bind", f"127.0.0.1:{port}", "--workers", "1",
            "--access-logfile", str(access_log), "--error-logfile", str(error_log),
        ],
        cwd=PROJECT_ROOT,  # gunicorn reads ./gunicorn.conf.py from here
        env={**os.environ, "DATABASE_URL": "sqlite:///:memory:", "LOG_FORMAT": "json"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/webhooks/closer/{TOKEN}/?x=1"
        wait_until(lambda: answered(url), timeout=30, what="gunicorn to answer")
        wait_until(lambda: access_log.read_text(), timeout=10, what="the access log line")
    finally:
        server.terminate()
        server.wait(timeout=20)
    access = json_lines(access_log.read_text())
    assert access[0]["logger"] == "gunicorn.access"
    assert "POST /webhooks/closer/<redacted>/?x=1" in access[0]["message"]
    errors = json_lines(error_log.read_text())
    assert by_message(errors, "Listening at")["logger"] == "gunicorn.error"
    assert TOKEN not in access_log.read_text() + error_log.read_text()
