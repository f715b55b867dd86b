"""The definitions of every Insights metric, in one place.

A conversation's metrics are a function of its row (opened, closed, closed
type, assignee) and of its stored messages, each an (author role, author
Closer id, sent time) with the advisers' ``is_bot`` flags. ``docs/insights.md``
states the same definitions for users; the property test
``tests/conversations/test_insights_property.py`` checks the stored values
against an independent SQL computation.

Which adviser wrote a message: a message carries its author's Closer id and
role; an ``ADVISER``-role message is a bot's when an adviser with that Closer
id is stored with ``is_bot`` set, and a human's otherwise (an author the
archive has never seen as an assignee counts as a human). The flag is read
when the conversation is written: a conversation keeps its classification if
an adviser only later turns out to be a bot, until ``manage.py
refresh_insights --all`` recomputes everything.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..models import MessageRole


class Handling:
    """Who answered the customer, from the authors of the adviser messages."""

    BOT_ONLY = "bot_only"  # only bots wrote
    BOT_THEN_HUMAN = "bot_then_human"  # both a bot and a human wrote (a hand-over)
    HUMAN_ONLY = "human_only"  # only humans wrote
    NONE = "none"  # no adviser message at all

    choices = [
        (BOT_ONLY, "Bot only"),
        (BOT_THEN_HUMAN, "Bot, then human"),
        (HUMAN_ONLY, "Human only"),
        (NONE, "No answer"),
    ]
    values = [value for value, _ in choices]


@dataclass(frozen=True)
class MessageFacts:
    """What the metrics read of one stored message."""

    author_role: str
    author_closer_id: str
    sent_at: datetime


@dataclass(frozen=True)
class ConversationFacts:
    opened_at: datetime
    closed_at: datetime | None
    assignee_closer_id: str | None


@dataclass(frozen=True)
class Metrics:
    first_customer_message_at: datetime | None
    first_response_ms: int | None
    first_human_response_ms: int | None
    time_to_close_ms: int | None
    customer_messages: int
    adviser_messages: int
    bot_messages: int
    other_messages: int
    assignee_messages: int
    handling: str


def _ms(later: datetime, earlier: datetime) -> int:
    """Whole milliseconds, rounded half away from zero, in integers (exact,
    as PostgreSQL's numeric ``round``; Closer's own times are whole ms)."""
    microseconds = (later - earlier) // timedelta(microseconds=1)
    whole = (abs(microseconds) + 500) // 1000
    return whole if microseconds >= 0 else -whole


def counted_messages(
    conversation: ConversationFacts, messages: Iterable[MessageFacts]
) -> list[MessageFacts]:
    """The messages the metrics count: those sent at or after ``opened_at``.

    A closed event's history can reach back before the conversation's
    created event (the lines of an earlier chat in the same window); those
    belong to earlier conversations and would count twice. A conversation
    without a created event opens at its first message, so nothing of it is
    left out. Sorted by time (a stable sort: ties keep the given order).
    """
    return sorted(
        (message for message in messages if message.sent_at >= conversation.opened_at),
        key=lambda message: message.sent_at,
    )


def first_customer_message_at(messages: list[MessageFacts]) -> datetime | None:
    """The time of the first ``CUSTOMER`` message; None when the customer wrote nothing."""
    return next((m.sent_at for m in messages if m.author_role == MessageRole.CUSTOMER), None)


def first_response_ms(messages: list[MessageFacts]) -> int | None:
    """Milliseconds from the first customer message to the first ``ADVISER``
    message sent strictly after it, by a bot or a human. None when the
    customer wrote nothing or nobody answered after their first message."""
    return _response_ms(messages, bots={}, humans_only=False)


def first_human_response_ms(messages: list[MessageFacts], bots: Mapping[str, bool]) -> int | None:
    """Like ``first_response_ms`` but only a human adviser's message answers:
    bots' messages are skipped, and the clock still starts at the customer's
    first message, so the time a customer spent with a bot shows. ``bots``
    maps adviser Closer ids to their ``is_bot``."""
    return _response_ms(messages, bots=bots, humans_only=True)


def _response_ms(
    messages: list[MessageFacts], *, bots: Mapping[str, bool], humans_only: bool
) -> int | None:
    start = first_customer_message_at(messages)
    if start is None:
        return None
    for message in messages:
        if message.author_role != MessageRole.ADVISER or message.sent_at <= start:
            continue
        if humans_only and bots.get(message.author_closer_id, False):
            continue
        return _ms(message.sent_at, start)
    return None


def time_to_close_ms(conversation: ConversationFacts) -> int | None:
    """Milliseconds from ``opened_at`` to ``closed_at``; None while open.
    ``opened_at`` is the created event's time, or the first message's when
    the created event never came (then the closed event's own time if the
    history is empty)."""
    if conversation.closed_at is None:
        return None
    return _ms(conversation.closed_at, conversation.opened_at)


def handling(messages: list[MessageFacts], bots: Mapping[str, bool]) -> str:
    """``Handling`` of a conversation, from who wrote its adviser messages.
    The assignee does not count: a bot assignee that never wrote is "none"."""
    by_bot = by_human = False
    for message in messages:
        if message.author_role == MessageRole.ADVISER:
            if bots.get(message.author_closer_id, False):
                by_bot = True
            else:
                by_human = True
    if by_bot and by_human:
        return Handling.BOT_THEN_HUMAN
    if by_bot:
        return Handling.BOT_ONLY
    if by_human:
        return Handling.HUMAN_ONLY
    return Handling.NONE


def metrics_of(
    conversation: ConversationFacts, messages: Iterable[MessageFacts], bots: Mapping[str, bool]
) -> Metrics:
    """Every metric of one conversation.

    Message counts are by role over the counted messages: ``CUSTOMER``,
    ``ADVISER`` (``bot_messages`` is the part of those written by bots) and
    any other role Closer sends (``other_messages``). ``assignee_messages``
    are the adviser messages written by the conversation's assignee (the
    adviser the closed event names): the "messages sent" of the per-adviser
    table.
    """
    counted = counted_messages(conversation, messages)
    advisers = [m for m in counted if m.author_role == MessageRole.ADVISER]
    return Metrics(
        first_customer_message_at=first_customer_message_at(counted),
        first_response_ms=first_response_ms(counted),
        first_human_response_ms=first_human_response_ms(counted, bots),
        time_to_close_ms=time_to_close_ms(conversation),
        customer_messages=sum(1 for m in counted if m.author_role == MessageRole.CUSTOMER),
        adviser_messages=len(advisers),
        bot_messages=sum(1 for m in advisers if bots.get(m.author_closer_id, False)),
        other_messages=sum(
            1 for m in counted if m.author_role not in (MessageRole.CUSTOMER, MessageRole.ADVISER)
        ),
        assignee_messages=sum(
            1
            for m in advisers
            if conversation.assignee_closer_id is not None
            and m.author_closer_id == conversation.assignee_closer_id
        ),
        handling=handling(counted, bots),
    )
