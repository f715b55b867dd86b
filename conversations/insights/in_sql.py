"""The metrics step as one SQL statement (PostgreSQL).

Replaces, on PostgreSQL, ``store.write_metrics``' read, its ``metrics_of``
call per conversation and its upsert (kept as the plain path: SQLite, and
the historical models of a data migration). A worker's batch of 100 closed
events of 20 messages spent about 13 ms in that step, 14 % of the batch: 5
reading its 2,000 messages into Python, 5 computing and building rows, 3
upserting. Here the database computes the same metrics where the messages
are and upserts them in the same statement, so no message crosses the wire:
5.5 ms a batch, 4 % of it (``bench/insights.py``).

``metrics.py`` stays the definition; this is its translation, line for
line where it can be, and ``tests/conversations/test_insights_in_sql.py``
pins it to ``metrics_of`` on generated conversations.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.backends.utils import CursorWrapper

from ..models import (
    Adviser,
    Conversation,
    ConversationMetrics,
    HandlingChoices,
    InsightsPendingHour,
    Message,
    MessageRole,
)

try:
    # Defined by Django only with psycopg 3 (the stubs do not know it).
    from django.db.backends.postgresql.base import (  # type: ignore[attr-defined]
        ServerBindingCursor,
    )
except (ImportError, ImproperlyConfigured):  # SQLite-only installs: the plain path runs
    ServerBindingCursor = None

_CUSTOMER, _ADVISER = f"'{MessageRole.CUSTOMER}'", f"'{MessageRole.ADVISER}'"


def _ms(later: str, earlier: str) -> str:
    """``metrics._ms``: whole milliseconds, half away from zero (numeric, exact)."""
    return f"round(extract(epoch FROM {later} - {earlier}) * 1000)::bigint"


_METRICS = ConversationMetrics._meta.db_table
_COLUMNS = [field.column for field in ConversationMetrics._meta.concrete_fields]

# Table, column and choice names only; the ids are the one parameter (twice).
_STATEMENT = f"""
WITH target AS (
    -- The conversations that still exist (metrics.ConversationFacts).
    SELECT c.id, c.opened_at, c.closed_at, c.status, c.closed_type, c.assignee_id,
           a.closer_id AS assignee_closer_id
    FROM {Conversation._meta.db_table} c
    LEFT JOIN {Adviser._meta.db_table} a ON a.id = c.assignee_id
    WHERE c.id = ANY(%(ids)s::bigint[])
),
counted AS (
    -- metrics.counted_messages: those sent at or after the opening; an
    -- adviser's message is a bot's when a stored adviser of that Closer id is one.
    SELECT m.conversation_id, m.author_role, m.author_closer_id, m.sent_at,
           COALESCE(b.is_bot, false) AS by_bot,
           m.author_closer_id = t.assignee_closer_id AS by_assignee
    FROM {Message._meta.db_table} m
    JOIN target t ON t.id = m.conversation_id AND m.sent_at >= t.opened_at
    LEFT JOIN {Adviser._meta.db_table} b ON b.closer_id = m.author_closer_id
),
per AS (
    SELECT conversation_id,
           min(sent_at) FILTER (WHERE author_role = {_CUSTOMER}) AS first_customer,
           count(*) FILTER (WHERE author_role = {_CUSTOMER}) AS customers,
           count(*) FILTER (WHERE author_role = {_ADVISER}) AS advisers,
           count(*) FILTER (WHERE author_role = {_ADVISER} AND by_bot) AS bots,
           count(*) FILTER (WHERE author_role NOT IN ({_CUSTOMER}, {_ADVISER})) AS others,
           count(*) FILTER (WHERE author_role = {_ADVISER} AND by_assignee) AS assignees,
           bool_or(by_bot) FILTER (WHERE author_role = {_ADVISER}) AS bot_wrote,
           bool_or(NOT by_bot) FILTER (WHERE author_role = {_ADVISER}) AS human_wrote
    FROM counted GROUP BY conversation_id
),
answers AS (
    -- metrics._response_ms: the first adviser message strictly after the
    -- customer's first, by anyone and by a human.
    SELECT x.conversation_id, min(x.sent_at) AS first_answer,
           min(x.sent_at) FILTER (WHERE NOT x.by_bot) AS first_human_answer
    FROM counted x JOIN per p ON p.conversation_id = x.conversation_id
    WHERE x.author_role = {_ADVISER} AND x.sent_at > p.first_customer
    GROUP BY x.conversation_id
),
written AS (
    INSERT INTO {_METRICS} (conversation_id, opened_at, status, closed_type, assignee_id,
        handling, first_customer_message_at, first_response_ms, first_human_response_ms,
        time_to_close_ms, customer_messages, adviser_messages, bot_messages, other_messages,
        assignee_messages)
    SELECT t.id, t.opened_at, t.status, t.closed_type, t.assignee_id,
           CASE WHEN p.bot_wrote AND p.human_wrote THEN '{HandlingChoices.BOT_THEN_HUMAN}'
                WHEN p.bot_wrote THEN '{HandlingChoices.BOT_ONLY}'
                WHEN p.human_wrote THEN '{HandlingChoices.HUMAN_ONLY}'
                ELSE '{HandlingChoices.NONE}' END,
           p.first_customer,
           {_ms("r.first_answer", "p.first_customer")},
           {_ms("r.first_human_answer", "p.first_customer")},
           {_ms("t.closed_at", "t.opened_at")},
           COALESCE(p.customers, 0), COALESCE(p.advisers, 0), COALESCE(p.bots, 0),
           COALESCE(p.others, 0), COALESCE(p.assignees, 0)
    FROM target t
    LEFT JOIN per p ON p.conversation_id = t.id
    LEFT JOIN answers r ON r.conversation_id = t.id
    ORDER BY t.id  -- rows locked in one order, as the plain path's sorted ids
    ON CONFLICT (conversation_id) DO UPDATE SET
        {", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS if c != "conversation_id")}
    RETURNING opened_at
)
-- store.mark_pending: the hours counted in before (this statement's snapshot
-- still holds the old rows) and now.
INSERT INTO {InsightsPendingHour._meta.db_table} (hour)
SELECT DISTINCT date_trunc('hour', opened_at, 'UTC')
FROM (
    SELECT opened_at FROM written
    UNION ALL
    SELECT opened_at FROM {_METRICS} WHERE conversation_id = ANY(%(ids)s::bigint[])
) AS counted_in
ORDER BY 1
"""  # noqa: S608


def write_metrics(ids: list[int]) -> None:
    """``store.write_metrics`` of the archive's own tables, in the database."""
    with _cursor() as cursor:
        cursor.execute(_STATEMENT, {"ids": ids})


@contextmanager
def _cursor() -> Iterator[CursorWrapper]:
    """A server-binding cursor (the ids apart from the SQL, so the statement
    keeps one text: a prepared statement after ``DATABASE_PREPARED_STATEMENTS``
    uses on the connection, as ``webhooks.inbox_insert``'s INSERT), wrapped
    like any Django cursor (error translation, query logging)."""
    connection.ensure_connection()
    raw = ServerBindingCursor(connection.connection)
    make = connection.make_debug_cursor if connection.queries_logged else connection.make_cursor
    try:
        yield make(raw)
    finally:
        raw.close()
