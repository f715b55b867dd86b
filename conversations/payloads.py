"""Reading Closer payloads into typed values, tolerant of their quirks.

Closer's payloads are loose: any field may be missing or null, unknown fields
appear, and the documented ``conversation.created`` example puts ``email`` and
``phone`` beside ``customer`` instead of inside it. This module turns one
decoded JSON object into a ``ParsedEvent`` or raises ``InvalidEvent`` with a
reason an operator can act on. It never touches the database.
"""

import hashlib
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

# The ``eventType`` values archived, by the kind of event: the name Closer
# sends first (what ``dump_events`` writes), then the documented name, which
# some senders put in ``eventType`` instead.
EVENT_TYPES = {
    "created": ("ThreadCreatedEvent", "conversation.created"),
    "closed": ("ThreadClosedEvent", "conversation.closed"),
}
KNOWN_EVENT_TYPES = tuple(name for names in EVENT_TYPES.values() for name in names)
_KIND_OF_EVENT_TYPE = {name: kind for kind, names in EVENT_TYPES.items() for name in names}

# Epoch milliseconds that convert to a datetime (years 1970..9999).
MAX_EPOCH_MS = 253_402_300_799_999
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

ID_MAX_LENGTH = 100
NAME_MAX_LENGTH = 200
EMAIL_MAX_LENGTH = 320
PHONE_MAX_LENGTH = 100
CLOSED_TYPE_MAX_LENGTH = 100
ROLE_MAX_LENGTH = 40


class InvalidEvent(ValueError):
    """The payload is a known event type but cannot be archived as it is."""


class UnknownEventType(ValueError):
    """The payload's ``eventType`` is not one we archive; it is kept and skipped."""


def ms_to_datetime(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def datetime_to_ms(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(milliseconds=1)


@dataclass(frozen=True)
class PersonDetails:
    """Customer or adviser details as one event saw them (None = not given)."""

    closer_id: str
    values: dict[str, Any]


class ParsedMessage(NamedTuple):
    """One message, in the column order the message rows are written in.

    A NamedTuple rather than a dataclass: cheaper to build a million of, and
    already the row the transcript and the message COPY need.
    """

    author_role: str
    author_closer_id: str
    author_email: str
    author_phone: str
    text: str
    sent_ms: int
    # Identity inside a conversation (see ``message_fingerprint``).
    fingerprint: str


def parsed_message(
    *,
    author_role: str,
    author_closer_id: str,
    author_email: str,
    author_phone: str,
    text: str,
    sent_ms: int,
) -> ParsedMessage:
    return ParsedMessage(
        author_role,
        author_closer_id,
        author_email,
        author_phone,
        text,
        sent_ms,
        message_fingerprint(author_closer_id, author_role, sent_ms, text),
    )


def message_fingerprint(author_closer_id: str, author_role: str, sent_ms: int, text: str) -> str:
    """SHA-256 of (author id, role, timestamp, text), each followed by NUL.

    One join and one hash call: the same digest as feeding the four parts
    and their NULs one by one (tests/conversations/test_normaliser.py pins it).
    """
    joined = f"{author_closer_id}\x00{author_role}\x00{sent_ms}\x00{text}\x00"
    return hashlib.sha256(joined.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class ParsedEvent:
    kind: str  # EventKind value: "created" or "closed"
    occurred_ms: int
    customer: PersonDetails
    conversation_ref: str = ""
    visitor_context: dict[str, Any] = field(default_factory=dict)
    closed_type: str = ""
    assignee: PersonDetails | None = None
    messages: tuple[ParsedMessage, ...] = ()
    # The earliest message's time; computed while parsing (on the backfill's
    # reading thread), not by the thread that applies the batch.
    first_message_ms: int | None = None


def event_type_of(payload: Any) -> str:
    """The ``eventType`` as sent (empty when absent or not a string)."""
    if isinstance(payload, dict):
        value = payload.get("eventType")
        if isinstance(value, str):
            return storable(value)[:100]
    return ""


def customer_id_of(payload: Any) -> str:
    """The customer's Closer id exactly as the archive keys it (stripped,
    storable); empty when the payload has no usable one.

    The one definition: the normaliser, the inbox's ``customer_closer_id``
    column (webhooks and backfill) and erasure all read the id through it,
    so an id that arrived as " abc " is "abc" everywhere.
    """
    customer = payload.get("customer") if isinstance(payload, dict) else None
    if not isinstance(customer, dict):
        return ""
    try:
        return _identifier(customer.get("id"), "customer.id")
    except InvalidEvent:
        return ""


def customer_email_of(payload: Any) -> str:
    """The customer's e-mail as an event carries it (inside ``customer``, or
    beside it as in Closer's documented example), as the archive would store
    it; empty when there is none. Erasure by e-mail reads stored events
    through it, the same reading as ``parse_event``'s."""
    customer = payload.get("customer") if isinstance(payload, dict) else None
    if not isinstance(customer, dict):
        return ""
    return _text(_first_present(customer, payload, "email"), EMAIL_MAX_LENGTH) or ""


def parse_event(payload: Any) -> ParsedEvent:
    """Read one Closer event; raise UnknownEventType or InvalidEvent."""
    if not isinstance(payload, dict):
        raise InvalidEvent(f"an event must be a JSON object, not {type(payload).__name__}")
    kind = _event_kind(payload.get("eventType"))
    customer = payload.get("customer")
    if not isinstance(customer, dict):
        raise InvalidEvent("customer is missing or not an object")
    customer_id = _identifier(customer.get("id"), "customer.id")
    occurred_ms = _epoch_ms(payload.get("timestamp"), "timestamp")

    # Documented quirk: email/phone may sit beside customer, not inside it.
    customer_values = {
        "api_key": _text(customer.get("apiKey"), ID_MAX_LENGTH),
        "first_name": _text(customer.get("firstName"), NAME_MAX_LENGTH),
        "last_name": _text(customer.get("lastName"), NAME_MAX_LENGTH),
        "random_name": _text(customer.get("randomName"), NAME_MAX_LENGTH),
        "email": _text(_first_present(customer, payload, "email"), EMAIL_MAX_LENGTH),
        "phone": _text(_first_present(customer, payload, "phone"), PHONE_MAX_LENGTH),
    }
    event = ParsedEvent(
        kind=kind,
        occurred_ms=occurred_ms,
        customer=PersonDetails(customer_id, customer_values),
        conversation_ref=_conversation_ref(payload),
        visitor_context=_visitor_context(customer.get("backOfficeData")),
    )
    if kind == "created":
        return event

    messages = _messages(payload.get("messageHistory"))
    return ParsedEvent(
        kind=kind,
        occurred_ms=occurred_ms,
        customer=event.customer,
        conversation_ref=event.conversation_ref,
        visitor_context=event.visitor_context,
        closed_type=_text(payload.get("closedType"), CLOSED_TYPE_MAX_LENGTH) or "",
        assignee=_assignee(payload.get("assignee")),
        messages=messages,
        first_message_ms=min((m.sent_ms for m in messages), default=None),
    )


def check_event(payload: Any) -> None:
    """Raise exactly what ``parse_event`` would raise for ``payload``, and
    nothing when it would succeed, without building the parsed event.

    The receive view answers from this (400, or 202 ``skipped``) on every
    webhook, so it runs only the checks that can fail, in ``parse_event``'s
    order: no message fingerprints, no text clean-up, no error locations
    formatted unless there is an error. Its agreement with ``parse_event``
    is a property test (tests/conversations/test_check_event.py); a new check in one belongs
    in the other.
    """
    if not isinstance(payload, dict):
        raise InvalidEvent(f"an event must be a JSON object, not {type(payload).__name__}")
    closed = _event_kind(payload.get("eventType")) == "closed"
    customer = payload.get("customer")
    if not isinstance(customer, dict):
        raise InvalidEvent("customer is missing or not an object")
    _identifier(customer.get("id"), "customer.id")
    _epoch_ms(payload.get("timestamp"), "timestamp")
    _conversation_ref(payload)
    if not closed:
        return
    assignee = payload.get("assignee")
    if isinstance(assignee, dict) and assignee.get("id") is not None:
        _identifier(assignee["id"], "assignee.id")
    history = payload.get("messageHistory")
    if history is None:
        return
    if not isinstance(history, list):
        raise InvalidEvent("messageHistory is not a list")
    for index, item in enumerate(history):
        if not isinstance(item, dict):
            raise InvalidEvent(f"messageHistory[{index}] is not an object")
        text = item.get("message")
        if text is not None and not isinstance(text, str):
            raise InvalidEvent(f"messageHistory[{index}].message is not a string")
        sent_ms = item.get("timestamp")
        if type(sent_ms) is not int or not 0 <= sent_ms <= MAX_EPOCH_MS:
            _epoch_ms(sent_ms, f"messageHistory[{index}].timestamp")  # raises, or a float


def _event_kind(event_type: Any) -> str:
    """ "created" or "closed"; raise for a missing, malformed or unknown type."""
    if event_type is not None and not isinstance(event_type, str):
        # A list or object here made the set lookups below raise TypeError
        # (a 500 found by tests/webhooks/test_fuzz_receive.py).
        raise InvalidEvent(f"eventType must be a string, not {type(event_type).__name__}")
    kind = _KIND_OF_EVENT_TYPE.get(event_type) if event_type is not None else None
    if kind is not None:
        return kind
    if event_type is None:
        raise InvalidEvent("eventType is missing")
    raise UnknownEventType(f"eventType {event_type!r} is not archived")


def _first_present(inner: dict[str, Any], outer: dict[str, Any], key: str) -> Any:
    value = inner.get(key)
    return value if value is not None else outer.get(key)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def storable(text: str) -> str:
    """``text`` as PostgreSQL can store it: text and jsonb refuse NUL, and a
    lone surrogate (valid in JSON's \\u escapes) cannot be encoded as UTF-8.
    Both made processing fail (found by tests/webhooks/test_fuzz_receive.py)."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    if text.isascii() or not _LONE_SURROGATE.search(text):
        return text  # the common case, without building a new string
    return _LONE_SURROGATE.sub("\ufffd", text)


def storable_json(value: Any) -> Any:
    """A decoded JSON value with every string made ``storable`` and the
    non-finite floats JSON numbers like 1e999 decode to replaced by null
    (jsonb has no Infinity)."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [storable_json(item) for item in value]
    if isinstance(value, dict):
        return {storable(str(key)): storable_json(item) for key, item in value.items()}
    return value


def _text(value: Any, max_length: int) -> str | None:
    """A scalar as text, cut to the column's size; None when absent."""
    if value is None:
        return None
    if type(value) is str:  # the common case first: no str() copy
        return storable(value)[:max_length]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return storable(str(value))[:max_length]
    return None  # objects and lists where a scalar belongs: ignored


def _identifier(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidEvent(f"{where} is missing or not a string")
    text = storable(str(value)).strip()
    if not text:
        raise InvalidEvent(f"{where} is empty")
    if len(text) > ID_MAX_LENGTH or "\x00" in text:
        raise InvalidEvent(f"{where} is longer than {ID_MAX_LENGTH} characters or has NUL")
    return text


def _epoch_ms(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidEvent(f"{where} is missing or not a number of epoch milliseconds")
    if isinstance(value, float):
        if not value.is_integer():
            raise InvalidEvent(f"{where} is not a whole number of milliseconds")
        value = int(value)
    if not 0 <= value <= MAX_EPOCH_MS:
        raise InvalidEvent(f"{where} {value} is out of range")
    return value


def _conversation_ref(payload: dict[str, Any]) -> str:
    """An explicit conversation id, should a payload ever carry one."""
    for key in ("threadId", "conversationId"):
        value = payload.get(key)
        if value is not None:
            return _identifier(value, key)
    for key in ("thread", "conversation"):
        nested = payload.get(key)
        if isinstance(nested, dict) and nested.get("id") is not None:
            return _identifier(nested["id"], f"{key}.id")
    return ""


def _visitor_context(back_office_data: Any) -> dict[str, Any]:
    """backOfficeData ([{"key", "value"}, …]) as a mapping; junk entries dropped."""
    if isinstance(back_office_data, dict):
        return {storable(str(k))[:200]: storable_json(v) for k, v in back_office_data.items()}
    context: dict[str, Any] = {}
    if isinstance(back_office_data, list):
        for item in back_office_data:
            if isinstance(item, dict) and isinstance(item.get("key"), str):
                context[storable(item["key"])[:200]] = storable_json(item.get("value"))
    return context


def _assignee(value: Any) -> PersonDetails | None:
    if not isinstance(value, dict) or value.get("id") is None:
        return None
    is_bot = value.get("isBot")
    return PersonDetails(
        _identifier(value.get("id"), "assignee.id"),
        {
            "first_name": _text(value.get("firstName"), NAME_MAX_LENGTH),
            "last_name": _text(value.get("lastName"), NAME_MAX_LENGTH),
            "email": _text(value.get("email"), EMAIL_MAX_LENGTH),
            "is_bot": is_bot if isinstance(is_bot, bool) else None,
        },
    )


def _messages(history: Any) -> tuple[ParsedMessage, ...]:
    if history is None:
        return ()
    if not isinstance(history, list):
        raise InvalidEvent("messageHistory is not a list")
    messages = []
    for index, item in enumerate(history):
        where = f"messageHistory[{index}]"
        if not isinstance(item, dict):
            raise InvalidEvent(f"{where} is not an object")
        author = item.get("author")
        if not isinstance(author, dict):
            author = {}
        text = item.get("message")
        if text is not None and not isinstance(text, str):
            raise InvalidEvent(f"{where}.message is not a string")
        messages.append(
            parsed_message(
                # Cut after upper(): "ß".upper() is "SS".
                author_role=(_text(author.get("role"), ROLE_MAX_LENGTH) or "UNKNOWN").upper()[
                    :ROLE_MAX_LENGTH
                ],
                author_closer_id=_text(author.get("id"), ID_MAX_LENGTH) or "",
                author_email=_text(author.get("email"), EMAIL_MAX_LENGTH) or "",
                author_phone=_text(author.get("phone"), PHONE_MAX_LENGTH) or "",
                text=storable(text or ""),
                sent_ms=_epoch_ms(item.get("timestamp"), f"{where}.timestamp"),
            )
        )
    return tuple(messages)
