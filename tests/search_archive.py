"""A small archive of conversations for the admin and search tests, built
through the real normaliser from Closer-shaped payloads."""

from itertools import count
from typing import Any

from conversations.models import Conversation
from conversations.services import IncomingEvent, apply_events
from tests.builders import closed_event, created_event, message

# One day apart, so the date hierarchy can tell conversations apart.
_timestamps = count(1_700_000_000_000, 86_400_000)


def archive_conversation(
    customer_id: str,
    texts: list[tuple[str, str]] | None = None,
    *,
    adviser: dict[str, Any] | None = None,
    closed: bool = True,
    with_created: bool = True,
    closed_type: str = "solved",
    inbound_event_ids: tuple[int | None, int | None] = (None, None),
    **customer_details: Any,
) -> Conversation:
    """Archive one conversation of ``customer_id`` and return it.

    ``texts`` are (role, text) pairs, oldest first; ``adviser`` overrides the
    builders' assignee ("Bob Holmes") and may be None for no adviser.
    """
    opened = next(_timestamps)
    # Distinct details per customer (the builders default to Jon Snow).
    customer_details.setdefault("first_name", customer_id)
    customer_details.setdefault("last_name", "")
    customer_details.setdefault("random_name", f"Alias of {customer_id}")
    customer_details.setdefault("email", f"{customer_id}@example.com")
    customer_details.setdefault("phone", "")
    adviser_id = adviser["id"] if adviser else "nobody"
    events = []
    if with_created:
        events.append(
            IncomingEvent(
                created_event(customer_id, opened, **customer_details), inbound_event_ids[0]
            )
        )
    if closed:
        history = [
            message(
                role,
                text,
                opened + 1000 * (i + 1),
                author_id=adviser_id if role == "ADVISER" else customer_id,
            )
            for i, (role, text) in enumerate(texts or [("CUSTOMER", "Hello")])
        ]
        payload = closed_event(
            customer_id, opened + 600_000, history, closed_type=closed_type, **customer_details
        )
        if adviser is None:
            payload["assignee"] = None
        else:
            payload["assignee"].update(adviser)
        events.append(IncomingEvent(payload, inbound_event_ids[1]))
    apply_events(events)
    return Conversation.objects.filter(customer__closer_id=customer_id).latest("opened_at")


BOB = {"id": "adviser-bob", "firstName": "Bob", "lastName": "Holmes", "email": "bob@closer.app"}
ZOFIA = {
    "id": "adviser-zofia",
    "firstName": "Zofia",
    "lastName": "Wąsowska",
    "email": "zofia.w@closer.app",
}
BOT = {
    "id": "adviser-bot",
    "firstName": "Closer",
    "lastName": "Bot",
    "email": "",
    "isBot": True,
}


def archive_jon_snow() -> Conversation:
    """The documented example's customer, fully described, asking about a
    parcel, answered by Bob: the conversation most search and admin tests
    look for."""
    return archive_conversation(
        "cust-jon",
        [("CUSTOMER", "Where is my parcel?"), ("ADVISER", "It ships tomorrow.")],
        adviser=BOB,
        first_name="Jon",
        last_name="Snow",
        random_name="Frosty Wolf",
        email="jon.snow@winterfell.com",
        phone="+48 600 100 200",
    )
