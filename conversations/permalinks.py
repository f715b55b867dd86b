"""A conversation's permalink: its identity key, written into a URL.

A conversation row keeps its key while it keeps its closed event, else its
created event (``identity.conversation_key``; docs/architecture.md,
"Conversation identity"), so a link that names the key, rather than the
row's database id, finds the conversation after re-pairing too: an open
conversation that got its closed event is still the row holding its created
event. The key names the customer by Closer's id, not the database's, so a
link also survives a rebuild of the archive from a backfill.

The token is the key as JSON in URL-safe base64 (opaque: a Closer id may
hold any character, "/" included), with the row's id at the time as a hint,
for saying what became of it when the key now leads elsewhere or nowhere.
"""

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from .identity import CLOSED, CREATED, conversation_key
from .models import Conversation

REF = "ref"
# Longer than any key this module writes (two Closer ids of at most 100 and
# 200 characters, escaped): a longer token is refused before decoding.
MAX_TOKEN_LENGTH = 2_000


@dataclass(frozen=True)
class PermalinkKey:
    """What a permalink names: a customer's created or closed event (by the
    customer's Closer id and the event's timestamp in ms), or an explicit
    conversation id (``kind`` REF, ``customer`` empty)."""

    kind: str  # CREATED, CLOSED or REF
    customer: str
    value: str | int
    made_for: int | None  # the row's id when the link was made


def permalink_key(conversation: Conversation) -> PermalinkKey:
    key = conversation_key(
        customer_id=conversation.customer_id,
        closer_id=conversation.closer_id,
        created_ms=conversation.created_event_ms,
        closed_ms=conversation.closed_event_ms,
    )
    if key[0] == REF:
        return PermalinkKey(REF, "", key[1], conversation.pk)
    _, kind, ms = key
    return PermalinkKey(kind, conversation.customer.closer_id, ms, conversation.pk)


def encode(key: PermalinkKey) -> str:
    data = json.dumps([key.kind, key.customer, key.value, key.made_for], separators=(",", ":"))
    return base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")


def decode(token: str) -> PermalinkKey | None:
    """The key a token names, or None for anything that is not one of ours."""
    if len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        data: Any = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):  # bad base64, UTF-8 or JSON
        return None
    if not (isinstance(data, list) and len(data) == 4):
        return None
    kind, customer, value, made_for = data
    if made_for is not None and not isinstance(made_for, int):
        return None
    if kind in (CREATED, CLOSED) and isinstance(customer, str) and _is_ms(value):
        return PermalinkKey(kind, customer, value, made_for)
    if kind == REF and customer == "" and isinstance(value, str) and value:
        return PermalinkKey(kind, customer, value, made_for)
    return None


def _is_ms(value: Any) -> bool:
    # A bigint column: a larger number would make the lookup fail, not miss.
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63
