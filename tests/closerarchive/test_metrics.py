"""GET /metrics: counters that move with real webhooks, processing and
backfills, the inbox gauge, and who may read them.

Counters live as long as the test process, so every test compares a scrape
before with a scrape after.
"""

import secrets
from datetime import timedelta

import pytest
from django.core.management.base import CommandError
from django.utils import timezone

from tests.backfill_helpers import backfill, write
from tests.builders import closed_event, created_event
from tests.inbox import stored
from tests.metrics_text import (
    BACKFILL_EVENTS,
    LAG_COUNT,
    OLDEST_WAITING,
    RECEIVED,
    VERIFICATION_FAILURES,
    WORKER_EVENTS,
    samples,
    scrape,
    value,
)
from tests.webhook_client import as_body, hmac_headers, post, standard_headers
from webhooks.models import EventStatus, InboundEvent
from webhooks.processing import process_inbound_event

pytestmark = pytest.mark.django_db

HMAC_SECRET = "hmac-secret-" + secrets.token_hex(16)
WHSEC = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA=="


@pytest.fixture(autouse=True)
def _loopback_rule(settings):
    """Loopback clients read the metrics (the test client is 127.0.0.1),
    whatever METRICS_TOKEN the environment running the tests holds."""
    settings.METRICS_TOKEN = ""


@pytest.fixture
def signed_endpoint(make_endpoint):
    """An endpoint with a name unique to the test and an HMAC secret; its token."""
    endpoint, token = make_endpoint(f"acme-{secrets.token_hex(4)}", hmac_secrets=[HMAC_SECRET])
    return endpoint, token


def post_signed(client, token, payload, secret=HMAC_SECRET):
    return post(client, token, payload, headers=hmac_headers(secret, as_body(payload)))


# --- Webhooks received and verification failures ----------------------------------


def test_every_reason_status_and_backfill_outcome_is_exported_before_it_happens(client):
    # A series that appears only at its first increment hides that increase
    # from rate(); a fresh process exports them all (at 0).
    text = scrape(client)
    reasons = ["unknown_endpoint", "endpoint_disabled", "signature_missing", "bad_signature"]
    reasons += ["bad_timestamp", "bad_endpoint_secret", "api_key_not_allowed"]
    for reason in reasons:
        assert samples(text, VERIFICATION_FAILURES, reason=reason), reason
    for status in ("processed", "failed", "dead", "rejected", "skipped", "erased", "expired"):
        assert samples(text, WORKER_EVENTS, status=status), status
    for outcome in ("read", "stored", "duplicate", "skipped", "erased", "expired", "failed"):
        assert samples(text, BACKFILL_EVENTS, outcome=outcome), outcome


def test_a_new_event_counts_202_and_its_redelivery_200_under_the_endpoint_name(
    client, signed_endpoint, django_capture_on_commit_callbacks
):
    endpoint, token = signed_endpoint
    before = scrape(client)

    with django_capture_on_commit_callbacks(execute=True):
        assert post_signed(client, token, created_event("c1", 1_000_000)).status_code == 202
    assert post_signed(client, token, created_event("c1", 1_000_000)).status_code == 200

    after = scrape(client)
    for code in ("202", "200"):
        counted = value(after, RECEIVED, endpoint=endpoint.name, code=code)
        assert counted - value(before, RECEIVED, endpoint=endpoint.name, code=code) == 1


def test_a_bad_signature_counts_401_and_a_bad_signature_failure(client, signed_endpoint):
    endpoint, token = signed_endpoint
    before = scrape(client)

    body = as_body(created_event("c1", 1_000_000))
    assert post(client, token, body, headers=hmac_headers("wrong", body)).status_code == 401

    after = scrape(client)
    assert (
        value(after, RECEIVED, endpoint=endpoint.name, code="401")
        - value(before, RECEIVED, endpoint=endpoint.name, code="401")
        == 1
    )
    assert (
        value(after, VERIFICATION_FAILURES, reason="bad_signature")
        - value(before, VERIFICATION_FAILURES, reason="bad_signature")
        == 1
    )


def test_a_missing_signature_and_a_stale_timestamp_have_reasons_of_their_own(client, make_endpoint):
    _, token = make_endpoint("sw", standard_webhooks_secrets=[WHSEC])
    body = as_body(created_event("c1", 1_000_000))
    before = scrape(client)

    assert post(client, token, body).status_code == 401
    stale = standard_headers(WHSEC, body, sent_at=int(timezone.now().timestamp()) - 3600)
    assert post(client, token, body, headers=stale).status_code == 401

    after = scrape(client)
    for reason in ("signature_missing", "bad_timestamp"):
        assert (
            value(after, VERIFICATION_FAILURES, reason=reason)
            - value(before, VERIFICATION_FAILURES, reason=reason)
            == 1
        )


def test_an_unknown_token_counts_under_the_unknown_endpoint_label(client):
    token = secrets.token_urlsafe(32)
    before = scrape(client)

    assert post(client, token, created_event("c1", 1_000_000)).status_code == 401

    after = scrape(client)
    assert (
        value(after, RECEIVED, endpoint="unknown", code="401")
        - value(before, RECEIVED, endpoint="unknown", code="401")
        == 1
    )
    assert (
        value(after, VERIFICATION_FAILURES, reason="unknown_endpoint")
        - value(before, VERIFICATION_FAILURES, reason="unknown_endpoint")
        == 1
    )
    assert token not in after


def test_a_disabled_endpoint_counts_403_under_its_name(client, make_endpoint):
    endpoint, token = make_endpoint("switched-off", is_active=False)
    before = scrape(client)

    assert post(client, token, created_event("c1", 1_000_000)).status_code == 403

    after = scrape(client)
    assert (
        value(after, RECEIVED, endpoint=endpoint.name, code="403")
        - value(before, RECEIVED, endpoint=endpoint.name, code="403")
        == 1
    )
    assert (
        value(after, VERIFICATION_FAILURES, reason="endpoint_disabled")
        - value(before, VERIFICATION_FAILURES, reason="endpoint_disabled")
        == 1
    )


# --- Processing ---------------------------------------------------------------------


def test_an_event_processed_through_celery_counts_processed_and_its_lag(
    client, signed_endpoint, django_capture_on_commit_callbacks
):
    _, token = signed_endpoint
    before = scrape(client)

    # Eager Celery: the task runs after the event's commit, in this process.
    with django_capture_on_commit_callbacks(execute=True):
        assert post_signed(client, token, closed_event("c1", 2_000_000)).status_code == 202
    assert InboundEvent.objects.get().status == EventStatus.PROCESSED

    after = scrape(client)
    assert (
        value(after, WORKER_EVENTS, status="processed")
        - value(before, WORKER_EVENTS, status="processed")
        == 1
    )
    assert value(after, LAG_COUNT) - value(before, LAG_COUNT) == 1


def test_a_batch_counts_each_of_its_events_and_their_lags(
    client, django_capture_on_commit_callbacks
):
    first = stored(closed_event("c1", 2_000_000))
    stored(closed_event("c2", 2_000_000))
    before = scrape(client)

    with django_capture_on_commit_callbacks(execute=True):
        process_inbound_event(event_id=first.pk)  # takes the other waiting event along

    after = scrape(client)
    assert not InboundEvent.objects.filter(status=EventStatus.RECEIVED).exists()
    assert (
        value(after, WORKER_EVENTS, status="processed")
        - value(before, WORKER_EVENTS, status="processed")
        == 2
    )
    assert value(after, LAG_COUNT) - value(before, LAG_COUNT) == 2


def test_a_malformed_event_counts_rejected_and_no_lag(client, django_capture_on_commit_callbacks):
    event = stored({"eventType": "ThreadClosedEvent", "customer": {"id": "c1"}})
    before = scrape(client)

    with django_capture_on_commit_callbacks(execute=True):
        process_inbound_event(event_id=event.pk)

    after = scrape(client)
    assert (
        value(after, WORKER_EVENTS, status="rejected")
        - value(before, WORKER_EVENTS, status="rejected")
        == 1
    )
    assert value(after, LAG_COUNT) == value(before, LAG_COUNT)


@pytest.mark.parametrize(("max_attempts", "status"), [(5, "failed"), (1, "dead")])
def test_a_failed_attempt_counts_failed_and_the_last_one_dead(
    client, settings, failing_archive, django_capture_on_commit_callbacks, max_attempts, status
):
    settings.EVENT_MAX_ATTEMPTS = max_attempts
    event = stored(closed_event("c1", 2_000_000))
    before = scrape(client)

    with django_capture_on_commit_callbacks(execute=True):
        process_inbound_event(event_id=event.pk)

    after = scrape(client)
    assert (
        value(after, WORKER_EVENTS, status=status) - value(before, WORKER_EVENTS, status=status)
        == 1
    )


def test_outcomes_rolled_back_with_their_transaction_are_not_counted(client):
    event = stored(closed_event("c1", 2_000_000))
    before = scrape(client)

    # The test's transaction is never committed: nor is the outcome.
    process_inbound_event(event_id=event.pk)

    after = scrape(client)
    assert value(after, WORKER_EVENTS, status="processed") == value(
        before, WORKER_EVENTS, status="processed"
    )


# --- The inbox's oldest waiting event --------------------------------------------------


def test_the_oldest_waiting_gauge_is_the_age_of_the_oldest_received_event(client):
    old, young = stored(closed_event("c1", 2_000_000)), stored(closed_event("c2", 2_000_000))
    now = timezone.now()
    InboundEvent.objects.filter(pk=old.pk).update(received_at=now - timedelta(seconds=600))
    InboundEvent.objects.filter(pk=young.pk).update(received_at=now - timedelta(seconds=5))
    # Older still, but not waiting: it does not count.
    done = stored(closed_event("c3", 2_000_000), status=EventStatus.PROCESSED)
    InboundEvent.objects.filter(pk=done.pk).update(received_at=now - timedelta(days=1))

    ages = samples(scrape(client), OLDEST_WAITING)

    assert len(ages) == 1
    assert 600 <= ages[0] < 600 + 60


def test_the_oldest_waiting_gauge_is_zero_when_nothing_waits(client):
    stored(closed_event("c1", 2_000_000), status=EventStatus.PROCESSED)

    assert samples(scrape(client), OLDEST_WAITING) == [0.0]


# --- Backfill -------------------------------------------------------------------------


def test_a_backfill_counts_what_it_read_stored_and_failed(client, tmp_path):
    good = [closed_event(f"c{i}", 2_000_000) for i in range(3)]
    dump = write(
        tmp_path / "dump.ndjson",
        [*good, good[0], "not an event", {"eventType": "ThreadTransferredEvent"}],
    )
    before = scrape(client)

    with pytest.raises(CommandError):  # one record failed
        backfill(dump)

    after = scrape(client)
    moved = {
        outcome: value(after, BACKFILL_EVENTS, outcome=outcome)
        - value(before, BACKFILL_EVENTS, outcome=outcome)
        for outcome in ("read", "stored", "duplicate", "skipped", "erased", "failed")
    }
    assert moved == {
        "read": 6,
        "stored": 3,
        "duplicate": 1,
        "skipped": 1,
        "erased": 0,
        "failed": 1,
    }


def test_a_dry_run_backfill_counts_nothing(client, tmp_path):
    dump = write(tmp_path / "dump.ndjson", [closed_event("c1", 2_000_000)])
    before = scrape(client)

    backfill(dump, "--dry-run")

    assert value(scrape(client), BACKFILL_EVENTS) == value(before, BACKFILL_EVENTS)


# --- No secret in the output ----------------------------------------------------------


def test_no_token_or_secret_appears_in_the_metrics(
    client, settings, make_endpoint, django_capture_on_commit_callbacks
):
    settings.METRICS_TOKEN = secrets.token_urlsafe(32)
    endpoint, token = make_endpoint(
        "secretive", hmac_secrets=[HMAC_SECRET], standard_webhooks_secrets=[WHSEC]
    )
    body = as_body(closed_event("c1", 2_000_000))
    headers = {**hmac_headers(HMAC_SECRET, body), **standard_headers(WHSEC, body)}
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, token, body, headers=headers).status_code == 202
    assert post(client, token, body, headers=hmac_headers("wrong", body)).status_code == 401

    text = scrape(client, headers={"Authorization": f"Bearer {settings.METRICS_TOKEN}"})

    assert f'endpoint="{endpoint.name}"' in text
    for secret in (token, HMAC_SECRET, WHSEC, WHSEC.removeprefix("whsec_")):
        assert secret not in text
    assert settings.METRICS_TOKEN not in text
    assert endpoint.token_hash not in text


# --- Who may read them --------------------------------------------------------------


def test_with_a_metrics_token_a_request_without_it_gets_401_and_a_bearer_challenge(
    client, settings
):
    settings.METRICS_TOKEN = secrets.token_urlsafe(32)

    response = client.get("/metrics")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"closer_archive" not in response.content


def test_with_a_metrics_token_a_wrong_token_gets_401(client, settings):
    settings.METRICS_TOKEN = secrets.token_urlsafe(32)

    for authorization in ("Bearer wrong", f"Basic {settings.METRICS_TOKEN}", "Bearer"):
        response = client.get("/metrics", headers={"Authorization": authorization})
        assert response.status_code == 401, authorization


def test_with_a_metrics_token_the_right_token_reads_them_from_any_address(client, settings):
    settings.METRICS_TOKEN = secrets.token_urlsafe(32)

    response = client.get(
        "/metrics",
        headers={"Authorization": f"Bearer {settings.METRICS_TOKEN}"},
        REMOTE_ADDR="203.0.113.7",
    )

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert RECEIVED.removesuffix("_total") in response.content.decode()


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_without_a_metrics_token_loopback_clients_read_them(client, address):
    assert client.get("/metrics", REMOTE_ADDR=address).status_code == 200


@pytest.mark.parametrize("address", ["203.0.113.7", "10.0.0.1", "2001:db8::1", ""])
def test_without_a_metrics_token_other_clients_get_403(client, address):
    response = client.get("/metrics", REMOTE_ADDR=address)
    assert response.status_code == 403
    assert b"closer_archive" not in response.content


def test_without_a_metrics_token_a_request_forwarded_by_a_local_proxy_gets_403(client):
    response = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"})
    assert response.status_code == 403


def test_metrics_are_not_redirected_to_https_for_a_scraper_on_the_app_port(client, settings):
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/admin/").status_code == 301  # the redirect is on
    assert client.get("/metrics").status_code == 200


def test_metrics_are_read_only(client):
    assert client.post("/metrics").status_code == 405


def test_the_metrics_answer_is_never_cached(client):
    assert client.get("/metrics")["Cache-Control"] == "no-store"


def test_the_openmetrics_format_is_served_when_asked_for(client):
    response = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.decode().endswith("# EOF\n")
