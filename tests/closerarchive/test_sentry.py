"""Errors reach Sentry with webhook tokens redacted from everything sent.

The SDK is initialised by ``closerarchive.sentry.init_sentry``, the function
the settings call, with a transport that records envelopes instead of
sending them. The check is on the serialised envelope: the bytes that would
go over the wire.
"""

import logging
import os
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import sentry_sdk
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from closerarchive.celery import app as celery_app
from closerarchive.sentry import init_sentry
from tests.db_faults import before_insert
from tests.processes import PROJECT_ROOT

logger = logging.getLogger("webhooks")


class RecordingTransport(Transport):
    """Keeps each envelope the SDK would send."""

    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)

    def wire_bytes(self) -> bytes:
        return b"".join(envelope.serialize() for envelope in self.envelopes)

    def events(self) -> list[dict[str, Any]]:
        return [dict(e) for envelope in self.envelopes if (e := envelope.get_event()) is not None]


@pytest.fixture
def sentry() -> Iterator[RecordingTransport]:
    transport = RecordingTransport()
    # A scope of its own: breadcrumbs of other tests stay out of this one's events.
    with sentry_sdk.isolation_scope():
        init_sentry("https://public@sentry.invalid/1", environment="test", transport=transport)
        try:
            yield transport
        finally:
            sentry_sdk.get_client().close()
            sentry_sdk.get_global_scope().set_client(None)


# A view at the webhook URL that fails, quoting its path in a log line and in
# the exception; the tests below route to it with pytest.mark.urls.
@csrf_exempt
def failing_view(request: HttpRequest, token: str) -> HttpResponse:
    logger.info("handling %s", request.get_full_path())
    raise RuntimeError(f"cannot handle {request.get_full_path()}")


urlpatterns = [path("webhooks/closer/<str:token>/", failing_view)]


@celery_app.task(name="tests.closerarchive.deliver_to")
def deliver_to(url: str) -> None:
    logger.info("delivering to %s", url)
    raise RuntimeError(f"could not deliver to {url}")


def only_event(transport: RecordingTransport) -> dict[str, Any]:
    events = transport.events()
    assert len(events) == 1, events
    return events[0]


def post_to(url: str, body: bytes = b"{}", headers: dict[str, str] | None = None) -> int:
    """POST through a real socket: the live server runs Django under WSGI, as
    gunicorn does, so the SDK's WSGI middleware records the request."""
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.urls("tests.closerarchive.test_sentry")
def test_an_exception_in_a_view_reaches_sentry_with_the_token_redacted(live_server, sentry):
    token = secrets.token_urlsafe(32)

    status = post_to(f"{live_server.url}/webhooks/closer/{token}/?from=/webhooks/closer/{token}/")

    assert status == 500
    event = only_event(sentry)
    assert event["request"]["url"] == f"{live_server.url}/webhooks/closer/<redacted>/"
    # The SDK sends the query string percent-encoded; redact() knows that form too.
    assert event["request"]["query_string"] == "from=%2Fwebhooks%2Fcloser%2F<redacted>%2F"
    assert event["exception"]["values"][-1]["value"] == (
        "cannot handle /webhooks/closer/<redacted>/?from=/webhooks/closer/<redacted>/"
    )
    crumbs = [crumb.get("message") for crumb in event["breadcrumbs"]["values"]]
    assert "handling /webhooks/closer/<redacted>/?from=/webhooks/closer/<redacted>/" in crumbs
    assert token.encode() not in sentry.wire_bytes()


@pytest.mark.urls("tests.closerarchive.test_sentry")
def test_credentials_and_signature_headers_never_reach_sentry(live_server, sentry):
    secret_values = {name: secrets.token_hex(16) for name in ("auth", "sig", "whsig", "cookie")}

    post_to(
        f"{live_server.url}/webhooks/closer/some-token/",
        headers={
            "Authorization": f"Token {secret_values['auth']}",
            "X-Signature-256": secret_values["sig"],
            "Webhook-Signature": f"v1,{secret_values['whsig']}",
            "Cookie": f"sessionid={secret_values['cookie']}",
        },
    )

    headers = {name.lower() for name in only_event(sentry)["request"]["headers"]}
    assert "content-type" in headers
    assert not headers & {"authorization", "x-signature-256", "webhook-signature", "cookie"}
    wire = sentry.wire_bytes()
    assert not [name for name, value in secret_values.items() if value.encode() in wire]


@pytest.fixture
def inbox_refusing_rows(transactional_db: Any) -> Iterator[None]:
    """A trigger that makes every INSERT into the inbox fail, as a broken
    database would; committed (the live server has its own connection) and
    dropped afterwards."""
    with before_insert("webhooks_inboundevent", "RAISE EXCEPTION 'inbox is refusing rows';"):
        yield


def test_a_database_failure_while_receiving_reaches_sentry_with_the_token_redacted(
    live_server, make_endpoint, inbox_refusing_rows, sentry
):
    _, token = make_endpoint()

    status = post_to(f"{live_server.url}/webhooks/closer/{token}/", b'{"eventType": "x"}')

    assert status == 503
    event = only_event(sentry)
    assert event["logentry"]["message"] == "database unavailable while receiving a webhook"
    assert "inbox is refusing rows" in event["exception"]["values"][-1]["value"]
    assert event["request"]["url"] == f"{live_server.url}/webhooks/closer/<redacted>/"
    assert token.encode() not in sentry.wire_bytes()


def test_an_exception_in_a_celery_task_reaches_sentry_with_the_token_redacted(sentry):
    token = secrets.token_urlsafe(32)
    url = f"https://archive.example.com/webhooks/closer/{token}/"

    deliver_to.apply(args=[url])

    event = only_event(sentry)
    assert event["exception"]["values"][-1]["value"] == (
        "could not deliver to https://archive.example.com/webhooks/closer/<redacted>/"
    )
    crumbs = [crumb.get("message") for crumb in event["breadcrumbs"]["values"]]
    assert "delivering to https://archive.example.com/webhooks/closer/<redacted>/" in crumbs
    assert token.encode() not in sentry.wire_bytes()


def test_an_error_log_message_reaches_sentry_with_the_token_redacted(sentry):
    token = secrets.token_urlsafe(32)

    logger.error("giving up on %s", f"/webhooks/closer/{token}/")

    event = only_event(sentry)
    assert event["logentry"]["formatted"] == "giving up on /webhooks/closer/<redacted>/"
    assert token.encode() not in sentry.wire_bytes()


def sentry_is_active(env: dict[str, str]) -> str:
    result = subprocess.run(
        [
            sys.executable, "manage.py", "shell", "-c",
            "import sentry_sdk; print(sentry_sdk.get_client().is_active())",
        ],
        cwd=PROJECT_ROOT,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("SENTRY_")}, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )  # fmt: skip
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_sentry_is_off_without_a_dsn():
    assert sentry_is_active({}) == "False"


@pytest.mark.slow
def test_sentry_is_on_when_sentry_dsn_is_set():
    assert sentry_is_active({"SENTRY_DSN": "https://public@sentry.invalid/1"}) == "True"
