"""``store.write_metrics``' read as one precompiled SQL statement (PostgreSQL).

Replaces building and compiling the same Django query (a four-table join
with an EXISTS) for every event: on the event path that compilation cost
more than the database's work. It and the metrics upsert are sent with
server-side binding, so a connection that has run them a few times has them
prepared (``DATABASE_PREPARED_STATEMENTS``) and PostgreSQL no longer plans
them each time: planning took longer than running them.
``tests/conversations/test_insights_metrics_read.py`` pins its rows to the
ORM query's.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from django.db import connection
from django.db.backends.utils import CursorWrapper


@contextmanager
def prepared_cursor() -> Iterator[CursorWrapper]:
    """A Django cursor with server-side binding on the current connection
    (PostgreSQL): psycopg prepares a statement it has run a few times."""
    import psycopg  # only with PostgreSQL

    connection.ensure_connection()
    raw = psycopg.Cursor(connection.connection)
    make = connection.make_debug_cursor if connection.queries_logged else connection.make_cursor
    try:
        yield make(raw)  # type: ignore[arg-type]  # a DB-API cursor, as Django's own
    finally:
        raw.close()


@cache
def _sql(conversation: str, message: str, adviser: str, metrics: str, *, one: bool) -> str:
    # Table names only; the ids are a parameter.
    return (
        "SELECT c.id, c.opened_at, c.closed_at, c.status, c.closed_type, c.assignee_id, "  # noqa: S608
        "a.closer_id, m.opened_at, msg.author_role, msg.author_closer_id, msg.sent_at, "
        f"EXISTS (SELECT 1 FROM {adviser} b WHERE b.closer_id = msg.author_closer_id "
        "AND b.is_bot) "
        f"FROM {conversation} c "
        f"LEFT JOIN {adviser} a ON a.id = c.assignee_id "
        f"LEFT JOIN {metrics} m ON m.conversation_id = c.id "
        f"LEFT JOIN {message} msg ON msg.conversation_id = c.id "
        # One id (an event's common case) as such: PostgreSQL plans
        # ``= ANY(array)`` afresh at every run instead of reusing the plan.
        f"WHERE c.id {'= %s' if one else '= ANY(%s)'} ORDER BY c.id, msg.sent_at, msg.id"
    )


def read_rows(ids: list[int], tables: Any) -> list[tuple[Any, ...]]:
    """The rows ``write_metrics`` reads, in its order: each conversation's
    columns, its assignee's Closer id, its stored metrics' ``opened_at``,
    then one message's author role, author Closer id, sent time and whether
    a bot wrote it (NULLs once for a conversation without messages)."""
    sql = _sql(
        tables.Conversation._meta.db_table,
        tables.Message._meta.db_table,
        tables.Adviser._meta.db_table,
        tables.ConversationMetrics._meta.db_table,
        one=len(ids) == 1,
    )
    with prepared_cursor() as cursor:
        params: list[Any] = list(ids) if len(ids) == 1 else [ids]
        cursor.execute(sql, params)
        return cursor.fetchall()
