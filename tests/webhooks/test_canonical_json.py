"""canonical_json writes the definition's bytes (the dedupe key is the
SHA-256 of them, webhooks/dedupe.py), whichever encoder writes them.
test_dedupe_key.py checks the same over fuzzed payloads; these are the
cases where orjson and the standard library write differently."""

import json
import math
import random
import struct

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from tests.builders import closed_event
from tests.strategies import bodies, encode, json_values, mutated_events
from webhooks.bodies import InvalidBody, holds_no_infinity, parse_body
from webhooks.canonical import canonical_json


def definition(payload):
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8", "surrogatepass")


EDGES = [
    {"b": 1, "a": {"d": None, "c": [True, False]}},
    {"small": 1.5e-05, "tiny": 5e-324, "exp": 7.2e-09, "big": 1e16, "huge": 1.7976931348623157e308},
    {"minus_zero": -0.0, "one": 1.0, "third": 1 / 3},
    {"inf": math.inf, "also": None},
    [None, -math.inf],
    {"nan": math.nan, "n": None},
    {"int": 2**64, "neg": -(2**63) - 1},
    {"surrogate": "\ud800", "nul": "\x00", "controls": "\b\t\n\f\r\x1f\x7f\u2028"},
    {"\uffff": 1, "\U00010000": 2, "a": 3, "é": 4},
    {"text": "e-mail at 0.00001 and 1e-9"},
]


@pytest.mark.parametrize("payload", EDGES)
def test_an_edge_case_is_written_as_the_definition_writes_it(payload):
    assert canonical_json(payload) == definition(payload)


def test_floats_of_every_magnitude_are_written_as_the_definition_writes_them():
    rng = random.Random(20261129)
    floats = [m * 10.0**e for e in range(-320, 308) for m in (1, -1.5, 2.5, 3.14159, 9.999999)]
    floats += [struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0] for _ in range(20_000)]
    for number in floats:
        assert canonical_json({"x": number}) == definition({"x": number}), number


@given(
    body=st.one_of(
        bodies, mutated_events().map(encode), st.dictionaries(st.text(), json_values).map(encode)
    )
)
@settings(
    max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
def test_a_parsed_body_is_written_as_the_definition_writes_it(body):
    """The receive view's way: what parse_body accepts, finite when the body
    shows no number that could overflow."""
    try:
        payload = parse_body(body)
    except InvalidBody:
        reject()  # not an example: hypothesis draws another (and fails if most are)
    assert canonical_json(payload, finite=holds_no_infinity(body)) == definition(payload)


@pytest.mark.parametrize(
    "number",
    [b"1e999", b"1E400", b"-1e+309", b"1.5e0400", b"9" * 400 + b".5", b"-" + b"9" * 309 + b".0"],
)
def test_a_number_that_overflows_a_float_makes_the_body_unsure(number):
    body = b'{"a": null, "n": ' + number + b"}"
    assert parse_body(body)["n"] in (math.inf, -math.inf)
    assert not holds_no_infinity(body)
    assert canonical_json(parse_body(body), finite=holds_no_infinity(body)) == body_definition(body)


def test_an_ordinary_event_is_sure_to_hold_no_infinity():
    """Else the receive view would walk every payload with a null in it."""
    body = json.dumps(closed_event("c1", 1_700_000_000_000)).encode()
    assert holds_no_infinity(body)


def body_definition(body):
    return definition(parse_body(body))
