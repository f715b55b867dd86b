"""check_event, the receive view's validation, agrees with parse_event, the
normaliser's: the same error for every payload, and none when it parses."""

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversations.payloads import (
    InvalidEvent,
    UnknownEventType,
    check_event,
    customer_id_of,
    parse_event,
)
from tests.builders import closed_event, created_event
from tests.strategies import json_values, mutated_events


def outcome(check: Any, payload: Any) -> tuple[type, str] | None:
    try:
        check(payload)
    except (InvalidEvent, UnknownEventType) as error:
        return type(error), str(error)
    return None


def closed_with(**changes: Any) -> dict[str, Any]:
    event = closed_event("c1", 1_700_000_000_000)
    event.update(changes)
    return event


def message_with(**changes: Any) -> dict[str, Any]:
    event = closed_event("c1", 1_700_000_000_000)
    event["messageHistory"][1].update(changes)
    return event


@pytest.mark.parametrize(
    "payload",
    [
        closed_event("c1", 1_700_000_000_000),
        created_event("c1", 1_600_000_000_000),
        [],
        closed_with(eventType=["ThreadClosedEvent"]),
        closed_with(eventType=None),
        closed_with(eventType="x.unknown", customer=None),
        closed_with(customer={"id": True}),
        closed_with(customer={"id": " "}),
        closed_with(customer={"id": "x" * 101}),
        closed_with(timestamp=1.5),
        closed_with(timestamp=1.7e12),
        closed_with(timestamp=-1),
        closed_with(threadId=[]),
        closed_with(conversation={"id": ""}),
        closed_with(assignee={"id": {}}),
        closed_with(assignee={"id": None}),
        closed_with(messageHistory={}),
        closed_with(messageHistory=None),
        closed_with(messageHistory=[1]),
        message_with(message=5),
        message_with(timestamp=True),
        message_with(timestamp=2.0e12),
        message_with(timestamp=2.5),
        message_with(timestamp=253_402_300_800_000),
        message_with(timestamp=None, message=[]),
    ],
)
def test_each_check_gives_the_same_answer(payload):
    assert outcome(check_event, payload) == outcome(parse_event, payload)


@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "300")),
    deadline=None,
    derandomize="FUZZ_EXAMPLES" not in os.environ,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(payload=st.one_of(mutated_events(), json_values))
def test_any_payload_gets_the_same_answer(payload):
    assert outcome(check_event, payload) == outcome(parse_event, payload)


# --- The customer id: one reading for the archive, the inbox and erasure ------------


@pytest.mark.parametrize(
    ("customer_id", "read_as"),
    [
        ("abc", "abc"),
        (" abc ", "abc"),
        ("\tabc\n", "abc"),
        (12345, "12345"),
        (True, ""),
        (None, ""),
        ("   ", ""),
        ("x" * 101, ""),
        ({"id": "abc"}, ""),
    ],
)
def test_customer_id_of_reads_the_id_as_the_normaliser_keys_it(customer_id, read_as):
    payload = {"eventType": "ThreadCreatedEvent", "timestamp": 1, "customer": {"id": customer_id}}

    assert customer_id_of(payload) == read_as
    if read_as:
        assert parse_event(payload).customer.closer_id == read_as


def test_customer_id_of_a_payload_without_a_customer_is_empty():
    assert customer_id_of({"eventType": "ThreadCreatedEvent"}) == ""
    assert customer_id_of(["not", "an", "object"]) == ""
