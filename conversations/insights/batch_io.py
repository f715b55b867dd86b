"""The metrics step's read and write in two fixed statements (PostgreSQL).

Replaces, on PostgreSQL, the ORM read and the multi-row upsert of
``store.write_metrics`` (kept as the plain path: SQLite, and the historical
models of a data migration), which cost a worker's batch of 100 closed
events of 20 messages more than the rest of the metrics step: the ORM read
repeats each conversation's four times on each of its message rows and
parses every timestamp with Django's timestamp loader, in Python (about
8,000 a batch), and psycopg splits a statement of thousands of placeholders
anew each time (it caches statements of up to 50 parameters only). Here the
conversations, their messages and the bots' Closer ids come back as rows of
one ``UNION ALL`` (each timestamp once, read by psycopg's C loader), and the
upsert passes one array a column (``unnest``), so both statements keep
the same text and a handful of parameters whatever the batch size.
``tests/conversations/test_insights_batch_io.py`` pins both to the plain path.
"""

from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.backends.utils import CursorWrapper

from ..models import Adviser, Conversation, ConversationMetrics, InsightsPendingHour, Message
from .metrics import MessageFacts

try:
    # Defined by Django only with psycopg 3 (the stubs do not know it).
    from django.db.backends.postgresql.base import (  # type: ignore[attr-defined]
        ServerBindingCursor,
    )
    from psycopg.types.datetime import TimestamptzLoader
except (ImportError, ImproperlyConfigured):  # SQLite-only installs: the plain path runs
    ServerBindingCursor = None
    TimestamptzLoader = None  # type: ignore[assignment,misc]

# Three kinds of rows: 0, a conversation (id, opened, closed, status, closed
# type, assignee id, the assignee's Closer id, the opening time of its stored
# metrics); 1, a message (conversation id, sent, -, role, author's Closer
# id, ..., message id); 2, a bot (its Closer id in the sixth column).
_READ = f"""
SELECT 0 AS kind, c.id, c.opened_at, c.closed_at, c.status, c.closed_type, c.assignee_id,
       a.closer_id, stored.opened_at, NULL::bigint AS message_id
FROM {Conversation._meta.db_table} c
LEFT JOIN {Adviser._meta.db_table} a ON a.id = c.assignee_id
LEFT JOIN {ConversationMetrics._meta.db_table} stored ON stored.conversation_id = c.id
WHERE c.id = ANY(%(ids)s::bigint[])
UNION ALL
SELECT 1, m.conversation_id, m.sent_at, NULL, m.author_role, m.author_closer_id, NULL, NULL, NULL,
       m.id
FROM {Message._meta.db_table} m
WHERE m.conversation_id = ANY(%(ids)s::bigint[])
UNION ALL
SELECT 2, NULL, NULL, NULL, NULL, closer_id, NULL, NULL, NULL, NULL
FROM {Adviser._meta.db_table} WHERE is_bot
ORDER BY 1, 2, 3, 10
"""  # noqa: S608 (table names only; the ids are a parameter)


def read_facts(
    ids: list[int],
) -> tuple[dict[int, tuple[Any, ...]], dict[int, list[MessageFacts]], dict[str, bool]]:
    """What ``store.write_metrics`` reads: the conversations' rows (pk,
    opened, closed, status, closed type, assignee id, assignee's Closer id,
    the opening time their stored metrics have), their messages in
    (sent, id) order, and the bots' Closer ids (a ``metrics_of`` mapping)."""
    with _cursor() as cursor:
        cursor.execute(_READ, {"ids": ids})
        found = cursor.fetchall()
    rows: dict[int, tuple[Any, ...]] = {}
    messages: dict[int, list[MessageFacts]] = defaultdict(list)
    bots: dict[str, bool] = {}
    for row in found:
        if row[0] == 1:
            messages[row[1]].append(MessageFacts(row[4], row[5], row[2]))
        elif row[0] == 0:
            rows[row[1]] = row[1:9]
        else:
            bots[row[5]] = True
    return rows, messages, bots


def _upsert_sql() -> str:
    fields = ConversationMetrics._meta.concrete_fields
    key = ConversationMetrics._meta.pk.column
    columns = [field.column for field in fields]
    arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in fields)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != key)
    table, pending = ConversationMetrics._meta.db_table, InsightsPendingHour._meta.db_table
    # Table and column names only; the values are parameters.
    return (
        f"WITH written AS (INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608
        f"SELECT * FROM unnest({arrays}) ON CONFLICT ({key}) DO UPDATE SET {updates}) "
        f"INSERT INTO {pending} (hour) SELECT unnest(%s::timestamptz[])"
    )


def upsert_and_mark(stored: list[ConversationMetrics], hours: Iterable[datetime]) -> None:
    """Upsert these metrics rows and mark the hours pending, in one statement."""
    names = [field.attname for field in ConversationMetrics._meta.concrete_fields]
    arrays = [[getattr(row, name) for row in stored] for name in names]
    with _cursor() as cursor:
        cursor.execute(_upsert_sql(), [*arrays, sorted(hours)])


@contextmanager
def _cursor() -> Iterator[CursorWrapper]:
    """A server-binding cursor (values apart from the SQL, so each statement
    keeps one text: a prepared statement after ``DATABASE_PREPARED_STATEMENTS``
    uses on the connection, as ``webhooks.inbox_insert``'s INSERT), reading
    timestamps with psycopg's own loader (C) in place of Django's Python
    subclass (the session's time zone is UTC, as Django sets it), wrapped
    like any Django cursor (error translation, query logging)."""
    connection.ensure_connection()
    raw = ServerBindingCursor(connection.connection)
    raw.adapters.register_loader("timestamptz", TimestamptzLoader)
    make = connection.make_debug_cursor if connection.queries_logged else connection.make_cursor
    try:
        yield make(raw)
    finally:
        raw.close()
