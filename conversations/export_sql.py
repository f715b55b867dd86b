"""The exports as PostgreSQL writes them (see ``conversations.exports``):
NDJSON lines built by json_build_object, and the CSV by COPY.

The caller's queryset decides *which* conversations (any filter, search or
admin selection) and is embedded as ``id IN (subquery)``; the SQL here only
decides the output, which must equal the portable Python path value for
value. Call inside the read-only transaction that ``exports`` opens.
"""

from collections.abc import Iterator
from typing import Any

from django.db import connections
from django.db.models import QuerySet

from .models import Adviser, Conversation, Customer, Message

_CONVERSATION = Conversation._meta.db_table
_CUSTOMER = Customer._meta.db_table
_ADVISER = Adviser._meta.db_table
_MESSAGE = Message._meta.db_table


def _iso(column: str) -> str:
    """``datetime.isoformat()`` in UTC with ``Z``, as DRF writes it: the
    fraction only when it is not zero."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (
        f"CASE WHEN mod(EXTRACT(MICROSECONDS FROM {utc})::bigint, 1000000) = 0"
        f' THEN to_char({utc}, \'YYYY-MM-DD"T"HH24:MI:SS"Z"\')'
        f' ELSE to_char({utc}, \'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\') END'
    )


def _name(first: str, last: str, *fallbacks: str) -> str:
    """``exports.person_name``: "first last", else the first non-empty fallback."""
    full = f"NULLIF(btrim({first} || ' ' || {last}, E' \\t\\n\\r\\f\\v'), '')"
    others = ", ".join(f"NULLIF({value}, '')" for value in fallbacks)
    return f"COALESCE({full}, {others}, '')"


def _selected(conversations: QuerySet[Conversation]) -> tuple[str, Any]:
    """The caller's selection as SQL for ``id IN (...)``, with its parameters."""
    return conversations.order_by().values("pk").query.sql_with_params()


# One line of NDJSON: the shape of ConversationDetailSerializer, key for key.
# Built from constants and _meta table names only; every value is bound.
_CONVERSATION_LINE = f"""
SELECT json_build_object(
    'id', c.id,
    'closer_id', c.closer_id,
    'status', c.status,
    'closed_type', c.closed_type,
    'opened_at', {_iso("c.opened_at")},
    'closed_at', {_iso("c.closed_at")},
    'created_event_missing', c.created_event_missing,
    'customer', json_build_object(
        'id', cu.closer_id, 'first_name', cu.first_name, 'last_name', cu.last_name,
        'alias', cu.random_name, 'email', cu.email, 'phone', cu.phone),
    'adviser', CASE WHEN a.id IS NULL THEN NULL ELSE json_build_object(
        'id', a.closer_id, 'first_name', a.first_name, 'last_name', a.last_name,
        'email', a.email, 'is_bot', a.is_bot) END,
    'visitor_context', c.visitor_context,
    'message_count', c.message_count,
    'updated_at', {_iso("c.updated_at")},
    -- message_transcript_idx: WHERE conversation_id = ? ORDER BY sent_at
    'messages', COALESCE((
        SELECT json_agg(json_build_object(
            'id', m.id, 'sent_at', {_iso("m.sent_at")}, 'author_role', m.author_role,
            'author_id', m.author_closer_id, 'author_email', m.author_email,
            'author_phone', m.author_phone, 'text', m.text) ORDER BY m.sent_at, m.id)
        FROM {_MESSAGE} m WHERE m.conversation_id = c.id), '[]'::json)
)::text
FROM {_CONVERSATION} c
JOIN {_CUSTOMER} cu ON cu.id = c.customer_id
LEFT JOIN {_ADVISER} a ON a.id = c.assignee_id
WHERE c.id IN (__selected__)
ORDER BY c.id
"""  # noqa: S608

# One CSV row per message; the aliases are MESSAGE_CSV_COLUMNS.
_MESSAGE_ROWS = f"""
SELECT m.id AS message_id, m.conversation_id, {_iso("m.sent_at")} AS sent_at,
    m.author_role, m.author_closer_id AS author_id, m.author_email, m.author_phone, m.text,
    cu.closer_id AS customer_id,
    {_name("cu.first_name", "cu.last_name", "cu.random_name", "cu.email", "cu.closer_id")}
        AS customer_name,
    cu.email AS customer_email, cu.phone AS customer_phone,
    a.closer_id AS adviser_id,
    CASE WHEN a.id IS NULL THEN NULL
        ELSE {_name("a.first_name", "a.last_name", "a.email", "a.closer_id")} END AS adviser_name,
    a.email AS adviser_email
FROM {_MESSAGE} m
JOIN {_CONVERSATION} c ON c.id = m.conversation_id
JOIN {_CUSTOMER} cu ON cu.id = c.customer_id
LEFT JOIN {_ADVISER} a ON a.id = c.assignee_id
WHERE m.conversation_id IN (__selected__)
ORDER BY m.conversation_id, m.sent_at, m.id
"""  # noqa: S608


def conversation_lines(conversations: QuerySet[Conversation], *, chunk_size: int) -> Iterator[str]:
    """NDJSON lines written by PostgreSQL, from a server-side cursor.

    The database builds each line whole (json_agg over the transcript index):
    a FETCH makes Python wait while PostgreSQL produces the rows, so the less
    Python has to do per row, the less the two take turns. Writing the JSON
    in Python instead, from rows read with psycopg's C loaders, spent more
    time in total (see docs/benchmarks.md).
    """
    selected, params = _selected(conversations)
    with connections[conversations.db].chunked_cursor() as cursor:
        cursor.execute(_CONVERSATION_LINE.replace("__selected__", selected), params)
        while rows := cursor.fetchmany(chunk_size):
            for (line,) in rows:
                # Newlines inside JSON strings are escaped; a raw one could only
                # be whitespace between tokens (older json_agg wrote some), and
                # it would split the line.
                yield line.replace("\n", " ") + "\n"


def message_csv(conversations: QuerySet[Conversation]) -> Iterator[bytes]:
    """The CSV as PostgreSQL's COPY writes it, header first, relayed as it comes."""
    selected, params = _selected(conversations)
    query = _MESSAGE_ROWS.replace("__selected__", selected)
    copy_sql = f"COPY ({query}) TO STDOUT (FORMAT csv, HEADER)"
    # COPY cannot take bind parameters; psycopg merges them in client-side.
    with connections[conversations.db].cursor() as cursor, cursor.copy(copy_sql, params) as copy:
        yield from copy
