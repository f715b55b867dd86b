"""How the receive view's INSERT reaches PostgreSQL: values bound by the
server, and a prepared statement once the connection has used it a few times
(DATABASE_PREPARED_STATEMENTS), and how the body is stored
(docs/benchmarks.md, "Ingest")."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from tests.webhook_client import post
from webhooks.models import InboundEvent

pytestmark = pytest.mark.django_db

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [statement for (statement,) in cursor.fetchall()]


def send_events(client, token, count: int) -> None:
    for n in range(count):
        response = post(client, token, {"eventType": "not.archived", "n": n})
        assert response.status_code == 202


def test_the_event_insert_becomes_a_prepared_statement(client, token):
    send_events(client, token, 6)

    table = '"webhooks_inboundevent"'
    inserts = [s for s in prepared_statements() if s.startswith(f"INSERT INTO {table}")]
    assert len(inserts) == 1
    assert InboundEvent.objects.count() == 6


def test_without_prepared_statements_the_insert_is_never_prepared(client, token):
    # What DATABASE_PREPARED_STATEMENTS=0 configures on every connection.
    connection.ensure_connection()
    connection.connection.prepare_threshold = None
    try:
        send_events(client, token, 6)
    finally:
        connection.connection.prepare_threshold = 5

    assert prepared_statements() == []
    assert InboundEvent.objects.count() == 6


def test_a_body_that_is_not_utf8_is_stored_byte_for_byte(client, token):
    body = b'{"eventType": "\xff\xfe"}'

    assert post(client, token, body).status_code == 400
    assert bytes(InboundEvent.objects.get().raw_body) == body


@pytest.mark.parametrize(("value", "threshold"), [("1", "5"), ("0", "None")])
def test_the_setting_turns_prepared_statements_on_and_off(value, threshold):
    env = {**os.environ, "DATABASE_PREPARED_STATEMENTS": value}
    env["DATABASE_URL"] = "postgres://nobody@127.0.0.1:5432/unused"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import closerarchive.settings as s;"
            "print(s.DATABASES['default']['OPTIONS']['prepare_threshold'])",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == threshold


def test_event_bodies_are_compressed_with_lz4(client, token):
    body = {"eventType": "not.archived", "padding": "Thanks for waiting. " * 200}

    assert post(client, token, body).status_code == 202
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_column_compression(raw_body) FROM webhooks_inboundevent")
        assert cursor.fetchone() == ("lz4",)


@pytest.mark.parametrize("address", ["203.0.113.9", "2001:db8::1"])
def test_the_senders_address_and_headers_are_stored(client, token, address):
    body = b'{"eventType": "not.archived"}'
    response = client.generic(
        "POST",
        f"/webhooks/closer/{token}/",
        body,
        content_type="application/json",
        headers={"User-Agent": "Closer/1.0 \u00e9"},
        REMOTE_ADDR=address,
    )

    assert response.status_code == 202
    event = InboundEvent.objects.get()
    assert event.remote_addr == address
    assert event.headers == {"content-type": "application/json", "user-agent": "Closer/1.0 \u00e9"}
