"""Conversation identity: which events of a customer form which conversation.

No Closer payload names its conversation, so a customer's conversations are a
pure function of the set of their distinct events (docs/architecture.md,
"Conversation identity"). This is that function, and the key a conversation
row keeps while it keeps its events; it is the only place the rule lives.
"""

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

CREATED = "created"
CLOSED = "closed"


@dataclass(frozen=True)
class EventPoint:
    kind: str  # CREATED or CLOSED
    occurred_ms: int
    key: Hashable  # whatever identifies the event to the caller


@dataclass(frozen=True)
class Segment:
    """One conversation: its created event, its closed event, or both."""

    created: EventPoint | None
    closed: EventPoint | None


def walk_order(point: EventPoint) -> tuple[int, bool]:
    """Timestamp order; on a tie, created before closed."""
    return (point.occurred_ms, point.kind != CREATED)


def walk(points: Iterable[EventPoint]) -> list[Segment]:
    """Pair a customer's distinct events into conversations.

    Sort by timestamp, created before closed on a tie; a created followed
    directly by a closed is one conversation; a closed without a created
    directly before it is a conversation missing its created event; a created
    followed by another created, or by nothing, is an open conversation.
    Message timestamps never take part.
    """
    ordered = sorted(points, key=walk_order)
    segments: list[Segment] = []
    unpaired_created: EventPoint | None = None
    for point in ordered:
        if point.kind == CREATED:
            if unpaired_created is not None:
                segments.append(Segment(created=unpaired_created, closed=None))
            unpaired_created = point
        else:
            segments.append(Segment(created=unpaired_created, closed=point))
            unpaired_created = None
    if unpaired_created is not None:
        segments.append(Segment(created=unpaired_created, closed=None))
    return segments


def conversation_key(
    *, customer_id: int, closer_id: str, created_ms: int | None, closed_ms: int | None
) -> tuple[Any, ...]:
    """What a conversation row is keyed by: its explicit id, else its closed
    event, else its created event. A row keeps its primary key while it keeps
    that event, so messages (which come only with closed events) never move."""
    if closer_id:
        return ("ref", closer_id)
    if closed_ms is not None:
        return (customer_id, CLOSED, closed_ms)
    return (customer_id, CREATED, created_ms)
