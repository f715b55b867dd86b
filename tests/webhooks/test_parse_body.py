"""parse_body's shortcut (no per-integer hook when no long run of digits)
answers exactly as the hook on every integer does."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webhooks.bodies import (
    MAX_NUMBER_DIGITS,
    InvalidBody,
    _bounded_int,
    _reject_constant,
    parse_body,
)


def reference(body: bytes) -> object:
    """The definition: the bounded hook on every integer of the body."""
    try:
        return json.loads(body, parse_constant=_reject_constant, parse_int=_bounded_int)
    except InvalidBody as error:
        return str(error)


def answer(body: bytes) -> object:
    try:
        return parse_body(body)
    except InvalidBody as error:
        return str(error)


def number(digits: int, negative: bool) -> str:
    return ("-" if negative else "") + "9" * digits


@pytest.mark.parametrize("negative", [False, True])
@pytest.mark.parametrize(
    "digits", [1, MAX_NUMBER_DIGITS - 1, MAX_NUMBER_DIGITS, MAX_NUMBER_DIGITS + 1, 400]
)
def test_a_number_at_the_bound_gets_the_hooks_answer(digits, negative):
    body = f'{{"timestamp": {number(digits, negative)}}}'.encode()
    assert answer(body) == reference(body)


def test_a_long_run_of_digits_in_a_string_is_not_a_long_number():
    body = json.dumps({"phone": "1" * 200, "id": 7}).encode()
    assert answer(body) == {"phone": "1" * 200, "id": 7}


numbers = st.builds(number, st.integers(1, 80), st.booleans())
strings = st.text(alphabet="-0123456789ab ", max_size=90).map(json.dumps)
values = st.lists(st.one_of(numbers, strings), min_size=1, max_size=6)


@given(values)
@settings(max_examples=300, deadline=None)
def test_any_mix_of_numbers_and_digit_strings_gets_the_hooks_answer(items):
    body = ('{"items": [' + ", ".join(items) + "]}").encode()
    assert answer(body) == reference(body)
