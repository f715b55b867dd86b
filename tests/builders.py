"""Builders of Closer payloads for tests (the documented shapes)."""

from typing import Any

NIL = "00000000-0000-0000-0000-000000000000"


def customer(customer_id: str, **details: Any) -> dict[str, Any]:
    return {
        "id": customer_id,
        "apiKey": NIL,
        "firstName": details.get("first_name", "Jon"),
        "lastName": details.get("last_name", "Snow"),
        "randomName": details.get("random_name", "Frosty Wolf"),
        "email": details.get("email", "jon.snow@winterfell.com"),
        "phone": details.get("phone", "+48123456789"),
        "backOfficeData": details.get(
            "back_office_data", [{"key": "currentPage", "value": "https://yourbusiness.com/"}]
        ),
    }


def created_event(customer_id: str, timestamp: int, **details: Any) -> dict[str, Any]:
    return {
        "customer": customer(customer_id, **details),
        "timestamp": timestamp,
        "eventType": "ThreadCreatedEvent",
    }


def message(role: str, text: str, timestamp: int, author_id: str = NIL) -> dict[str, Any]:
    return {
        "author": {"id": author_id, "role": role, "email": None, "phone": None},
        "message": text,
        "timestamp": timestamp,
    }


def closed_event(
    customer_id: str,
    timestamp: int,
    messages: list[dict[str, Any]] | None = None,
    *,
    closed_type: str = "solved",
    adviser_id: str = "adviser-1",
    **details: Any,
) -> dict[str, Any]:
    if messages is None:
        messages = [
            message("CUSTOMER", f"Hello at {timestamp}", timestamp - 2000),
            message("ADVISER", "Hi!", timestamp - 1000, author_id=adviser_id),
        ]
    return {
        "customer": customer(customer_id, **details),
        "timestamp": timestamp,
        "closedType": closed_type,
        "assignee": {
            "id": adviser_id,
            "firstName": "Bob",
            "lastName": "Holmes",
            "email": "bob.holmes@closer.app",
            "isBot": False,
        },
        "messageHistory": messages,
        "eventType": "ThreadClosedEvent",
    }
