"""Hostile input against the receive view (hypothesis).

Random bytes, deep nesting, huge numbers, wrong types in every field of a real
event, unicode edge cases (lone surrogates, NUL, non-characters), missing and
extra headers. The view must never answer 5xx; unauthenticated requests must
write nothing; processing a stored event must never end in an internal error.

The normal suite runs a modest number of examples per test; the dedicated
run is ``make fuzz`` (see
docs/reliability.md).
"""

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.builders import closed_event
from tests.strategies import bodies
from tests.webhook_client import hmac_headers, post
from webhooks.bodies import MAX_JSON_DEPTH
from webhooks.models import EventStatus, InboundEvent, WebhookEndpoint

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "100")),
    deadline=None,
    derandomize="FUZZ_EXAMPLES" not in os.environ,  # the normal suite is repeatable
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # the database is checked by deltas
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
SECRET = "fuzz-secret"

content_types = st.sampled_from(
    ["application/json", "application/json; charset=utf-8", "application/cloudevents+json"]
) | st.text(max_size=40).filter(lambda t: "\n" not in t and "\r" not in t)
# Header values a WSGI server can carry (latin-1, no line breaks).
header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=200)
extra_headers = st.dictionaries(
    st.sampled_from(
        ["webhook-id", "webhook-timestamp", "webhook-signature", "X-Request-Id", "User-Agent"]
    )
    | st.from_regex(r"X-[A-Za-z]{1,20}", fullmatch=True),
    header_text,
    max_size=5,
)

# --- Tests -----------------------------------------------------------------------


@pytest.fixture
def signed_endpoint(make_endpoint) -> tuple[WebhookEndpoint, str]:
    return make_endpoint(hmac_secrets=[SECRET])


@FUZZ
@given(body=bodies, content_type=content_types, headers=extra_headers, signed=st.booleans())
def test_hostile_unauthenticated_requests_get_4xx_and_write_nothing(
    client, signed_endpoint, body, content_type, headers, signed
):
    _, token = signed_endpoint
    if signed:  # a valid signature, but for an unknown endpoint token
        token = "not-a-token"
        headers = {**headers, **hmac_headers(SECRET, body)}
    else:  # the right endpoint, a missing or wrong signature
        headers = {**headers, "X-Signature-256": headers.get("X-Request-Id", "sha256=00")}
    before = InboundEvent.objects.count()

    response = post(client, token, body, content_type=content_type, headers=headers)

    assert 400 <= response.status_code < 500, response.content
    assert InboundEvent.objects.count() == before


@FUZZ
@given(body=bodies, content_type=content_types, headers=extra_headers)
def test_hostile_authenticated_bodies_never_get_a_5xx_nor_fail_processing(
    client, signed_endpoint, body, content_type, headers, django_capture_on_commit_callbacks
):
    _, token = signed_endpoint
    headers = {**headers, **hmac_headers(SECRET, body)}

    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, token, body, content_type=content_type, headers=headers)

    assert response.status_code < 500, response.content
    assert response["Content-Type"] == "application/json"
    if response.status_code in (200, 202):
        event = InboundEvent.objects.get(pk=response.json()["id"])
        # Processed, skipped or rejected with a reason: never an internal error.
        assert event.status in {EventStatus.PROCESSED, EventStatus.SKIPPED, EventStatus.REJECTED}
        assert bytes(event.raw_body) == body or response.status_code == 200


def nested_objects(levels: int) -> bytes:
    return b'{"eventType":"x.unknown","a":' * (levels - 1) + b"{}" + b"}" * (levels - 1)


def test_nesting_deeper_than_the_limit_is_refused_with_400(client, signed_endpoint):
    _, token = signed_endpoint
    body = nested_objects(MAX_JSON_DEPTH + 1)
    response = post(client, token, body, headers=hmac_headers(SECRET, body))
    assert response.status_code == 400
    assert "nested" in response.json()["error"]


def test_nesting_at_the_limit_is_accepted(client, signed_endpoint):
    _, token = signed_endpoint
    body = nested_objects(MAX_JSON_DEPTH)
    response = post(client, token, body, headers=hmac_headers(SECRET, body))
    assert response.status_code == 202, response.content
    assert response.json()["status"] == EventStatus.SKIPPED


@pytest.mark.parametrize(
    "where, value",
    [
        ("customer.id", "c1\x00"),
        ("customer.id", "c1\ud800"),
        ("customer.firstName", "\udfff"),
        ("context value", "\x00"),
        ("context value", "\ud800"),
        ("context value", float("inf")),
        ("context key", "\x00\ud800"),
        ("message", "a\x00\ud800b"),
        ("role", "ß" * 40),
    ],
)
def test_values_postgresql_cannot_store_are_made_storable_not_failed(
    client, signed_endpoint, django_capture_on_commit_callbacks, where, value
):
    event = closed_event("c1", 1_700_000_000_000)
    if where == "customer.id":
        event["customer"]["id"] = value
    elif where == "customer.firstName":
        event["customer"]["firstName"] = value
    elif where == "context value":
        event["customer"]["backOfficeData"] = [{"key": "currentPage", "value": value}]
    elif where == "context key":
        event["customer"]["backOfficeData"] = [{"key": value, "value": 1}]
    elif where == "message":
        event["messageHistory"][0]["message"] = value
    else:
        event["messageHistory"][0]["author"]["role"] = value
    body = json.dumps(event).replace("Infinity", "1e999").encode()  # \u escapes: valid UTF-8
    _, token = signed_endpoint

    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, token, body, headers=hmac_headers(SECRET, body))

    assert response.status_code == 202
    assert InboundEvent.objects.get().status == EventStatus.PROCESSED


def test_an_event_type_of_the_wrong_type_is_refused_with_400(client, signed_endpoint):
    _, token = signed_endpoint
    body = json.dumps({**closed_event("c1", 1), "eventType": ["ThreadClosedEvent"]}).encode()
    response = post(client, token, body, headers=hmac_headers(SECRET, body))
    assert response.status_code == 400
    assert "eventType must be a string" in response.json()["error"]


def test_a_number_with_thousands_of_digits_is_refused_with_400(client, signed_endpoint):
    _, token = signed_endpoint
    body = b'{"eventType": "ThreadClosedEvent", "timestamp": ' + b"9" * 5000 + b"}"
    response = post(client, token, body, headers=hmac_headers(SECRET, body))
    assert response.status_code == 400
    assert "digits" in response.json()["error"]


def test_stored_fields_are_cut_to_their_column_sizes(
    client, signed_endpoint, django_capture_on_commit_callbacks
):
    _, token = signed_endpoint
    event = closed_event("c" * 100, 1_700_000_000_000, first_name="N" * 10_000)
    event["eventType"] = "ThreadClosedEvent"
    body = json.dumps(event).encode()
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, token, body, headers=hmac_headers(SECRET, body))
    assert response.status_code == 202
    assert InboundEvent.objects.get().status == EventStatus.PROCESSED
