"""What the receive view answers for each kind of body, and what it keeps."""

import json

import pytest
from django.db import connection

from conversations.models import Conversation, Message
from tests.conftest import fixture_bytes
from tests.webhook_client import post
from webhooks.models import EventSource, EventStatus, InboundEvent

pytestmark = pytest.mark.django_db


def test_a_new_event_is_accepted_with_202_and_stored(client, token, created_example):
    response = post(client, token, created_example, headers={"User-Agent": "Closer"})

    assert response.status_code == 202
    event = InboundEvent.objects.get()
    assert response.json() == {"status": "accepted", "id": event.pk}
    assert event.source == EventSource.WEBHOOK
    assert event.event_type == "ThreadCreatedEvent"
    assert event.customer_closer_id == "00000000-0000-0000-0000-000000000000"
    assert event.headers["user-agent"] == "Closer"
    assert event.remote_addr == "127.0.0.1"
    assert event.dedupe_key.startswith("sha256:")


def test_the_inbox_files_an_event_under_the_customer_id_the_archive_keeps(
    client, token, created_example, django_capture_on_commit_callbacks
):
    created_example["customer"]["id"] = "  padded-id  "
    with django_capture_on_commit_callbacks(execute=True):
        post(client, token, created_example)

    assert InboundEvent.objects.get().customer_closer_id == "padded-id"
    assert Conversation.objects.get().customer.closer_id == "padded-id"


def test_the_raw_body_is_kept_byte_for_byte(client, token):
    body = fixture_bytes("conversation.created.json")
    post(client, token, body)
    assert bytes(InboundEvent.objects.get().raw_body) == body


def test_the_same_event_three_times_is_one_event_one_conversation_no_duplicate_message(
    client, token, closed_example, django_capture_on_commit_callbacks
):
    statuses = []
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            statuses.append(post(client, token, closed_example).status_code)

    assert statuses == [202, 200, 200]
    assert InboundEvent.objects.count() == 1
    assert Conversation.objects.count() == 1
    assert Message.objects.count() == 3


def test_a_reformatted_redelivery_is_still_a_duplicate(client, token, closed_example):
    post(client, token, json.dumps(closed_example).encode())
    response = post(client, token, json.dumps(closed_example, indent=4).encode())
    assert response.status_code == 200
    assert response.json()["status"] == "duplicate"


def test_the_webhook_id_header_is_the_dedupe_key_when_present(client, token, created_example):
    post(client, token, created_example, headers={"webhook-id": "msg_1"})
    created_example["timestamp"] += 1
    response = post(client, token, created_example, headers={"webhook-id": "msg_1"})
    assert response.status_code == 200
    assert InboundEvent.objects.get().dedupe_key == "webhook-id:msg_1"


def test_the_same_body_on_two_endpoints_is_two_events(client, make_endpoint, created_example):
    _, first = make_endpoint("first")
    _, second = make_endpoint("second")
    assert post(client, first, created_example).status_code == 202
    assert post(client, second, created_example).status_code == 202


def test_both_examples_deliver_one_conversation_with_three_messages(
    client, token, created_example, closed_example, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        post(client, token, created_example)
    with django_capture_on_commit_callbacks(execute=True):
        post(client, token, closed_example)

    assert set(InboundEvent.objects.values_list("status", flat=True)) == {EventStatus.PROCESSED}
    conversation = Conversation.objects.get()
    assert conversation.message_count == 3
    assert not conversation.created_event_missing


@pytest.mark.parametrize(
    "name", ["conversation.created.as-documented.json", "conversation.closed.as-documented.json"]
)
def test_the_documented_examples_verbatim_are_invalid_json_and_answered_400(client, token, name):
    body = fixture_bytes(name)
    response = post(client, token, body)

    assert response.status_code == 400
    assert response.json()["error"].startswith("body is not valid JSON")
    event = InboundEvent.objects.get()  # authentic, so kept for an operator
    assert event.status == EventStatus.REJECTED
    assert bytes(event.raw_body) == body
    assert Conversation.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[]", "body must be a JSON object, not list"),
        (b'"text"', "body must be a JSON object, not str"),
        (b"  ", "body is not valid JSON: Expecting value at line 1 column 3"),
        (b'{"a": NaN}', "NaN is not valid JSON"),
        (b"\xff\xfe{}", "body is not UTF-8 (byte 0)"),
        (b"[" * 100_000 + b"]" * 100_000, "body is nested too deeply"),
        (b'{"a":' * 100 + b"1" + b"}" * 100, "body is nested deeper than 64 levels"),
        (b'{"n": 1' + b"0" * 5000 + b"}", "body has a number longer than 64 digits"),
    ],
)
def test_bodies_that_are_not_a_json_object_are_answered_400(client, token, body, reason):
    response = post(client, token, body)
    assert response.status_code == 400
    assert response.json()["error"].startswith(reason)
    assert InboundEvent.objects.get().status == EventStatus.REJECTED


def test_a_long_digit_string_is_not_mistaken_for_a_long_number(client, token):
    response = post(client, token, {"eventType": "x.unknown", "note": "1" * 500})
    assert response.status_code == 202
    assert InboundEvent.objects.get().status == EventStatus.SKIPPED


def test_a_known_event_that_cannot_be_archived_is_answered_400_and_kept(client, token):
    response = post(client, token, {"eventType": "ThreadClosedEvent", "customer": {}})
    assert response.status_code == 400
    assert response.json() == {"error": "customer.id is missing or not a string"}
    assert InboundEvent.objects.get().last_error == "customer.id is missing or not a string"


def test_a_rejected_body_sent_twice_is_kept_once(client, token):
    post(client, token, b"[]")
    assert post(client, token, b"[]").status_code == 400
    assert InboundEvent.objects.count() == 1


def test_an_unknown_event_type_is_accepted_kept_and_skipped(client, token):
    response = post(client, token, {"eventType": "ThreadTransferredEvent", "extra": [1]})
    assert response.status_code == 202
    assert response.json()["status"] == "skipped"
    assert InboundEvent.objects.get().status == EventStatus.SKIPPED


def test_unknown_fields_are_kept_in_the_raw_event(client, token, created_example):
    created_example["brandNewField"] = {"x": 1}
    post(client, token, created_example)
    assert b"brandNewField" in bytes(InboundEvent.objects.get().raw_body)


def test_a_body_over_the_limit_is_answered_413(client, token, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 2048
    response = post(client, token, {"padding": "x" * 4096})
    assert response.status_code == 413
    assert InboundEvent.objects.count() == 0


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_a_body_that_is_not_declared_json_is_answered_415(client, token, content_type):
    response = post(client, token, {"eventType": "x"}, content_type=content_type)
    assert response.status_code == 415
    assert InboundEvent.objects.count() == 0


def test_json_with_a_charset_parameter_is_accepted(client, token, created_example):
    response = post(client, token, created_example, content_type="application/json; charset=utf-8")
    assert response.status_code == 202


def test_get_is_not_allowed(client, token):
    assert client.get(f"/webhooks/closer/{token}/").status_code == 405


@pytest.mark.django_db(transaction=True)
def test_database_unreachable_answers_503_so_the_sender_retries(
    client, make_endpoint, created_example
):
    _, token = make_endpoint()
    real_port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = "1"  # nothing listens there: a real refused connection
    try:
        response = post(client, token, created_example)
    finally:
        connection.close()
        connection.settings_dict["PORT"] = real_port
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert InboundEvent.objects.count() == 0
    assert post(client, token, created_example).status_code == 202  # and it recovers
