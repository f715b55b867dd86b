"""The Insights property: after any sequence of events (re-deliveries,
out-of-order delivery, re-pairing by late created events, erasure, retention
by deletion or anonymisation), the stored per-conversation metrics and the
refreshed roll-ups equal a from-scratch SQL computation over the messages.

The SQL below is written independently of conversations.insights.metrics,
from the definitions in docs/insights.md.
"""

import contextlib
import itertools
from uuid import uuid4

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversations.identity import CLOSED, CREATED
from conversations.insights.store import refresh_rollups
from conversations.payloads import ms_to_datetime
from conversations.services import IncomingEvent, apply_conversation_retention, apply_events
from tests.builders import closed_event, created_event, message
from webhooks.erasure import CustomerNotFound, erase_customer

pytestmark = pytest.mark.django_db

MINUTE = 60_000
BASE = 1_700_000_000_000
ADVISERS = ["human-1", "human-2", "bot-1"]  # bot-* are bots, always

METRICS_FROM_SCRATCH = """
WITH counted AS (
    SELECT m.conversation_id, m.author_role, m.author_closer_id, m.sent_at,
           COALESCE(a.is_bot, false) AS by_bot
    FROM conversations_message m
    JOIN conversations_conversation c ON c.id = m.conversation_id
    LEFT JOIN conversations_adviser a ON a.closer_id = m.author_closer_id
    WHERE m.sent_at >= c.opened_at
),
per AS (
    SELECT conversation_id,
           min(sent_at) FILTER (WHERE author_role = 'CUSTOMER') AS first_customer,
           count(*) FILTER (WHERE author_role = 'CUSTOMER') AS customers,
           count(*) FILTER (WHERE author_role = 'ADVISER') AS advisers,
           count(*) FILTER (WHERE author_role = 'ADVISER' AND by_bot) AS bots,
           count(*) FILTER (WHERE author_role NOT IN ('CUSTOMER', 'ADVISER')) AS others,
           bool_or(author_role = 'ADVISER' AND by_bot) AS bot_wrote,
           bool_or(author_role = 'ADVISER' AND NOT by_bot) AS human_wrote
    FROM counted GROUP BY conversation_id
)
SELECT c.id, c.opened_at, c.status, c.closed_type, c.assignee_id,
       per.first_customer,
       (SELECT round(extract(epoch FROM min(x.sent_at) - per.first_customer) * 1000)::bigint
          FROM counted x WHERE x.conversation_id = c.id AND x.author_role = 'ADVISER'
           AND x.sent_at > per.first_customer),
       (SELECT round(extract(epoch FROM min(x.sent_at) - per.first_customer) * 1000)::bigint
          FROM counted x WHERE x.conversation_id = c.id AND x.author_role = 'ADVISER'
           AND NOT x.by_bot AND x.sent_at > per.first_customer),
       round(extract(epoch FROM c.closed_at - c.opened_at) * 1000)::bigint,
       COALESCE(per.customers, 0), COALESCE(per.advisers, 0), COALESCE(per.bots, 0),
       COALESCE(per.others, 0),
       (SELECT count(*) FROM counted x JOIN conversations_adviser a ON a.id = c.assignee_id
         WHERE x.conversation_id = c.id AND x.author_role = 'ADVISER'
           AND x.author_closer_id = a.closer_id),
       CASE WHEN per.bot_wrote AND per.human_wrote THEN 'bot_then_human'
            WHEN per.bot_wrote THEN 'bot_only'
            WHEN per.human_wrote THEN 'human_only'
            ELSE 'none' END
FROM conversations_conversation c LEFT JOIN per ON per.conversation_id = c.id
ORDER BY c.id
"""
STORED_METRICS = """
SELECT conversation_id, opened_at, status, closed_type, assignee_id, first_customer_message_at,
       first_response_ms, first_human_response_ms, time_to_close_ms, customer_messages,
       adviser_messages, bot_messages, other_messages, assignee_messages, handling
FROM conversations_conversationmetrics ORDER BY conversation_id
"""
ROLLUPS_FROM_SCRATCH = f"""
SELECT date_trunc('hour', opened_at, 'UTC'), assignee_id, handling, status, closed_type,
       count(*), count(first_ms), count(human_ms), sum(customers), sum(advisers), sum(bots),
       sum(others), sum(assignee_messages)
FROM ({METRICS_FROM_SCRATCH.replace("ORDER BY c.id", "")}) AS fresh(
    id, opened_at, status, closed_type, assignee_id, first_customer, first_ms, human_ms,
    close_ms, customers, advisers, bots, others, assignee_messages, handling)
GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
"""  # noqa: S608 (constant SQL)
STORED_ROLLUPS = """
SELECT hour, assignee_id, handling, status, closed_type, conversations, answered,
       human_answered, customer_messages, adviser_messages, bot_messages, other_messages,
       assignee_messages
FROM conversations_insightshour ORDER BY 1, 2, 3, 4, 5
"""


def rows(sql: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def payload(customer_id: str, kind: str, minute: int) -> dict:
    """Content is a function of (customer, kind, time): re-deliveries are identical."""
    timestamp = BASE + minute * MINUTE
    if kind == CREATED:
        return created_event(customer_id, timestamp)
    adviser = ADVISERS[minute % 3]
    # Some lines before any created event's time, some answers from nobody.
    history = [
        message("CUSTOMER", f"q {minute}", timestamp - (minute % 4) * MINUTE - 1000, customer_id),
        *([message("ADVISER", f"a {minute}", timestamp - 500, adviser)] if minute % 5 else []),
        *([message("SYSTEM", "note", timestamp - 200, "")] if minute % 7 == 0 else []),
    ][: minute % 4]
    event = closed_event(
        customer_id,
        timestamp,
        history,
        closed_type=["solved", "unsolved"][minute % 2],
        adviser_id=adviser,
    )
    event["assignee"]["isBot"] = adviser.startswith("bot")
    return event


events = st.lists(
    st.tuples(
        st.sampled_from(["alice", "bob"]),
        st.sampled_from([CREATED, CLOSED]),
        st.integers(min_value=1, max_value=90),
    ),
    max_size=12,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    keys=events,
    data=st.data(),
    batch_sizes=st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=3),
    erase_at=st.one_of(st.none(), st.integers(min_value=0, max_value=12)),
    retain_at=st.one_of(st.none(), st.integers(min_value=0, max_value=12)),
    retention=st.tuples(
        st.integers(min_value=1, max_value=90), st.sampled_from(["delete", "anonymise"])
    ),
)
def test_stored_metrics_and_rollups_equal_a_computation_from_scratch(
    keys, data, batch_sizes, erase_at, retain_at, retention
):
    run = uuid4().hex[:8]
    duplicates = st.lists(st.sampled_from(keys), max_size=4) if keys else st.just([])
    order = data.draw(st.permutations(keys + data.draw(duplicates)), label="delivery order")
    incoming = [IncomingEvent(payload(f"{who}-{run}", kind, minute)) for who, kind, minute in order]
    sizes = itertools.cycle(batch_sizes)
    start = 0
    while start < len(incoming) or erase_at is not None or retain_at is not None:
        if retain_at is not None and start >= min(retain_at, len(incoming)):
            horizon_minute, action = retention
            apply_conversation_retention(
                horizon=ms_to_datetime(BASE + horizon_minute * MINUTE), action=action
            )
            retain_at = None
            refresh_rollups()
        if erase_at is not None and start >= min(erase_at, len(incoming)):
            with contextlib.suppress(CustomerNotFound):
                erase_customer(identifier=f"alice-{run}")
            erase_at = None
            refresh_rollups()  # a page read in between: later changes must mark their hours
        if start >= len(incoming):
            continue
        size = next(sizes)
        apply_events(incoming[start : start + size])
        refresh_rollups()
        start += size

    assert rows(STORED_METRICS) == rows(METRICS_FROM_SCRATCH)
    refresh_rollups()
    assert rows(STORED_ROLLUPS) == rows(ROLLUPS_FROM_SCRATCH)
