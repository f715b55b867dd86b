"""Decoding a webhook body into a JSON object, within bounds.

On the receive view's hot path: every check here runs once per delivery, so
each is written to cost little on the common (well-formed, shallow) body and
only pays in full for the bodies that need it.
"""

import json
from typing import Any

MAX_JSON_DEPTH = 64
MAX_NUMBER_DIGITS = 64


class InvalidBody(ValueError):
    """The body is not a JSON object within bounds; the message says why."""


def parse_body(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or InvalidBody with a reason for the sender."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidBody(f"body is not UTF-8 (byte {error.start})") from None
    # A number can only be too long where the body has a run of that many
    # digits; finding none (in C, a few µs) spares a Python call per integer
    # of the body (a closed event has about twenty; the hook then cost a
    # third of the parse). A long run of digits inside a string only sends
    # the body the careful way.
    long_digit_run = _TOO_MANY_DIGITS in body.translate(_DIGITS_AS_ZEROS)
    decoder = _BOUNDED_DECODER if long_digit_run else _DECODER
    try:
        payload = decoder.decode(text)
    except json.JSONDecodeError as error:
        raise InvalidBody(
            f"body is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except RecursionError:
        raise InvalidBody("body is nested too deeply") from None
    if not isinstance(payload, dict):
        raise InvalidBody(f"body must be a JSON object, not {type(payload).__name__}")
    # Nesting can be no deeper than the number of opening brackets (counted in
    # C, strings included, so an over-estimate): most bodies need no walk.
    if body.count(b"{") + body.count(b"[") > MAX_JSON_DEPTH and _deeper_than(
        payload, MAX_JSON_DEPTH
    ):
        raise InvalidBody(f"body is nested deeper than {MAX_JSON_DEPTH} levels")
    return payload


def _reject_constant(name: str) -> None:
    raise InvalidBody(f"{name} is not valid JSON")


def _bounded_int(text: str) -> int:
    # Python refuses >4300 digits with a confusing message; far less is sane.
    if len(text) > MAX_NUMBER_DIGITS:
        raise InvalidBody(f"body has a number longer than {MAX_NUMBER_DIGITS} digits")
    return int(text)


# Built once: json.loads(text, **options) builds a decoder and its scanner
# on every call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_BOUNDED_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_int=_bounded_int)
# Every digit and minus sign becomes "0" (the hook counts the sign), every
# other byte a space.
_DIGITS_AS_ZEROS = bytes(ord("0") if byte in b"-0123456789" else ord(" ") for byte in range(256))
_TOO_MANY_DIGITS = b"0" * (MAX_NUMBER_DIGITS + 1)


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether containers nest more than ``limit`` levels, one level at a time
    (only containers are carried to the next level, never the scalars)."""
    level, depth = [value], 1
    while level:
        if depth > limit:
            return True
        level = [
            child
            for item in level
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, dict | list)
        ]
        depth += 1
    return False


# Exponent letters become "e", "+" stays, digits and minus signs become "0".
_NUMBER_SHAPES = bytes(
    ord("e") if byte in b"eE" else byte if byte == ord("+") else _DIGITS_AS_ZEROS[byte]
    for byte in range(256)
)


def holds_no_infinity(body: bytes) -> bool:
    """True when no number of ``body`` can be too large for a float (which
    Python reads as infinity). A float overflows only with an exponent of
    three digits or more, or (with at most two) over 200 digits before the
    point; a body with no such exponent and no run of more than 64 digits
    anywhere (strings included) is sure. False means "not sure", not "has
    one". A few µs, in C."""
    shapes = body.translate(_NUMBER_SHAPES)
    return b"e000" not in shapes and b"e+000" not in shapes and _TOO_MANY_DIGITS not in shapes
