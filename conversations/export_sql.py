"""The exports as PostgreSQL writes them (see ``conversations.exports``):
NDJSON lines built in SQL, and the CSV, each streamed by ``COPY ... TO STDOUT``.

The caller's queryset decides *which* conversations (any filter, search or
admin selection) and is embedded as ``id IN (subquery)``; the SQL here only
decides the output, which must equal the portable Python path value for
value. Call inside the read-only transaction that ``exports`` opens.
"""

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import psycopg
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import QuerySet
from psycopg import sql

from .csv_safety import safe_text_sql
from .export_columns import MESSAGE_CSV_TEXT_COLUMNS as TEXT_COLUMNS
from .models import Adviser, Conversation, Customer, Message

logger = logging.getLogger(__name__)

_CONVERSATION = Conversation._meta.db_table
_CUSTOMER = Customer._meta.db_table
_ADVISER = Adviser._meta.db_table
_MESSAGE = Message._meta.db_table

# Connections that build NDJSON lines at once, each taking every STREAMS-th
# conversation: building the JSON is what an export spends its time on, and
# one PostgreSQL backend uses one core (docs/benchmarks.md).
STREAMS = 2
# How the second connections show in pg_stat_activity.
SIBLING_NAME = "closer-archive export"


def _iso(column: str) -> str:
    """``datetime.isoformat()`` in UTC with ``Z``, as DRF writes it: the
    fraction only when it is not zero. (One to_char and a replace cost half
    of a CASE choosing between two to_char formats.)"""
    return (
        f"replace(to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
        " '.000000Z', 'Z')"
    )


def _name(first: str, last: str, *fallbacks: str) -> str:
    """``exports.person_name``: "first last", else the first non-empty fallback."""
    full = f"NULLIF(btrim({first} || ' ' || {last}, E' \\t\\n\\r\\f\\v'), '')"
    others = ", ".join(f"NULLIF({value}, '')" for value in fallbacks)
    return f"COALESCE({full}, {others}, '')"


def _selected(conversations: QuerySet[Conversation]) -> tuple[str, Any]:
    """The caller's selection as SQL for ``id IN (...)``, with its parameters."""
    return conversations.order_by().values("pk").query.sql_with_params()


def _share(selected: str, *, stream: int, streams: int) -> str:
    """Every ``streams``-th conversation of the selection in id order, starting
    with the ``stream``-th (from 0): the streams then take turns line by line."""
    if streams == 1:
        return selected
    # Django's compiled SQL (placeholders kept) and two ints.
    return (
        "SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS n"  # noqa: S608
        f" FROM (SELECT DISTINCT id FROM ({selected}) AS s (id)) AS d) AS r"
        f" WHERE mod(n - 1, {streams}) = {stream}"
    )


def _members(**values: str) -> str:
    """``"key" : value, ...`` (no braces) for text or NULL columns, escaped by
    json_object."""
    keys = ", ".join(f"'{key}'" for key in values)
    return f"btrim(json_object(ARRAY[{keys}], ARRAY[{', '.join(values.values())}])::text, '{{}}')"


# One line of NDJSON: the shape of ConversationDetailSerializer, key for key.
# Built from constants and _meta table names only; every value is bound.
# Text values go through json_object (text only), the others are written by
# concatenation: json_build_object looks up the type of every argument on
# every call, and that was most of the cost (docs/benchmarks.md).
_MESSAGE_JSON = (
    # The id (a number) goes in front of the first key. replace() compares
    # bytes, where trimming the braces walks every character of the text.
    "replace(json_object("
    "ARRAY['sent_at', 'author_role', 'author_id', 'author_email', 'author_phone', 'text'],"
    f" ARRAY[{_iso('m.sent_at')}, m.author_role, m.author_closer_id, m.author_email,"
    " m.author_phone, m.text])::text,"
    " '{\"sent_at\"', '{\"id\" : ' || m.id || ', \"sent_at\"')"
)
_CUSTOMER_MEMBERS = _members(
    id="c.cu_closer_id",
    first_name="c.cu_first_name",
    last_name="c.cu_last_name",
    alias="c.cu_random_name",
    email="c.cu_email",
    phone="c.cu_phone",
)
_ADVISER_MEMBERS = _members(
    id="c.a_closer_id", first_name="c.a_first_name", last_name="c.a_last_name", email="c.a_email"
)
_CONVERSATION_MEMBERS = _members(
    closer_id="c.closer_id",
    status="c.status",
    closed_type="c.closed_type",
    opened_at=_iso("c.opened_at"),
    closed_at=_iso("c.closed_at"),
)
# The conversations are put in order first, and each line is built from the
# ordered rows: with ORDER BY on the line query itself, PostgreSQL builds every
# line, then sorts them all (hundreds of MB, on disk) before sending any.
_CONVERSATION_LINE = f"""
SELECT '{{"id" : ' || c.id || ', ' || {_CONVERSATION_MEMBERS}
    || ', "created_event_missing" : ' || c.created_event_missing
    || ', "customer" : {{' || {_CUSTOMER_MEMBERS} || '}}'
    || ', "adviser" : ' || CASE WHEN c.a_id IS NULL THEN 'null'
        ELSE '{{' || {_ADVISER_MEMBERS} || ', "is_bot" : ' || c.a_is_bot || '}}' END
    || ', "visitor_context" : ' || c.visitor_context::text
    || ', "message_count" : ' || c.message_count
    || ', "updated_at" : "' || {_iso("c.updated_at")} || '"'
    || ', "messages" : [' || COALESCE((
        -- message_transcript_idx: WHERE conversation_id = ? ORDER BY sent_at
        SELECT string_agg({_MESSAGE_JSON}, ', ' ORDER BY m.sent_at, m.id)
        FROM {_MESSAGE} m WHERE m.conversation_id = c.id), '') || ']}}'
FROM (
    SELECT c.id, c.closer_id, c.status, c.closed_type, c.opened_at, c.closed_at,
        c.created_event_missing, c.visitor_context, c.message_count, c.updated_at,
        cu.closer_id AS cu_closer_id, cu.first_name AS cu_first_name,
        cu.last_name AS cu_last_name, cu.random_name AS cu_random_name,
        cu.email AS cu_email, cu.phone AS cu_phone,
        a.id AS a_id, a.closer_id AS a_closer_id, a.first_name AS a_first_name,
        a.last_name AS a_last_name, a.email AS a_email, a.is_bot AS a_is_bot
    FROM {_CONVERSATION} c
    JOIN {_CUSTOMER} cu ON cu.id = c.customer_id
    LEFT JOIN {_ADVISER} a ON a.id = c.assignee_id
    WHERE c.id IN (__selected__)
    ORDER BY c.id
    OFFSET 0  -- keeps this a subquery, sorted before the lines are built
) c
ORDER BY c.id  -- already in order: no second sort
"""  # noqa: S608

# The CSV's rows as stored, in order (text cells not yet neutralised).
_RAW_MESSAGE_ROWS = f"""
SELECT m.id AS message_id, m.conversation_id, {_iso("m.sent_at")} AS sent_at,
    m.sent_at AS sent_order,
    m.author_role, m.author_closer_id AS author_id, m.author_email, m.author_phone, m.text,
    cu.closer_id AS customer_id,
    {_name("cu.first_name", "cu.last_name", "cu.random_name", "cu.email", "cu.closer_id")}
        AS customer_name,
    cu.email AS customer_email, cu.phone AS customer_phone,
    a.closer_id AS adviser_id,
    CASE WHEN a.id IS NULL THEN NULL
        ELSE {_name("a.first_name", "a.last_name", "a.email", "a.closer_id")} END
        AS adviser_name,
    a.email AS adviser_email
FROM {_MESSAGE} m
JOIN {_CONVERSATION} c ON c.id = m.conversation_id
JOIN {_CUSTOMER} cu ON cu.id = c.customer_id
LEFT JOIN {_ADVISER} a ON a.id = c.assignee_id
WHERE m.conversation_id IN (__selected__)
ORDER BY m.conversation_id, m.sent_at, m.id
"""  # noqa: S608
# One CSV row per message; the aliases are MESSAGE_CSV_COLUMNS. Every text
# cell goes through csv_safety's rule, in an outer query over the ordered
# rows: applied to the names' expressions directly, the rule made PostgreSQL
# compute each name twice (its test and its result), and the COPY took ~1.4x
# as long; this way the rule costs next to nothing (bench/csv_safety.py).
_MESSAGE_ROWS = f"""
SELECT r.message_id, r.conversation_id, r.sent_at,
    {", ".join(f"{safe_text_sql(f'r.{column}')} AS {column}" for column in TEXT_COLUMNS)}
FROM ({_RAW_MESSAGE_ROWS}    OFFSET 0  -- keeps it a subquery: each name computed once
) r
ORDER BY r.conversation_id, r.sent_order, r.message_id  -- already in order: no second sort
"""  # noqa: S608


@contextmanager
def _sibling(connection: BaseDatabaseWrapper) -> Iterator[psycopg.Connection[Any]]:
    """A second connection reading the same snapshot as ``connection``'s
    transaction, as ``pg_dump -j`` does: what one sees, the other sees.

    Only for a transaction that has written nothing: another session cannot
    see uncommitted rows, even through an imported snapshot.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_export_snapshot()")
        (snapshot,) = cursor.fetchone()
    sibling = psycopg.connect(
        **{**connection.get_connection_params(), "application_name": SIBLING_NAME}
    )
    try:
        sibling.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        sibling.read_only = True
        sibling.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
        yield sibling
    finally:
        # Closing ends its transaction (and a COPY cut short) on the server.
        sibling.close()


def conversation_lines(
    conversations: QuerySet[Conversation], *, streams: int = 1
) -> Iterator[bytes]:
    """NDJSON lines written by PostgreSQL, in conversation id order.

    With ``streams`` > 1, that many connections (this one and siblings sharing
    its snapshot) build the lines at once, each every ``streams``-th
    conversation, and the lines are taken from them in turn: only inside a
    read-only REPEATABLE READ transaction of the export's own.
    """
    selected, params = _selected(conversations)
    connection = connections[conversations.db]
    ops: Any = connection.ops  # PostgreSQL's: merges parameters as psycopg does
    with ExitStack() as stack:
        cursors: list[Any] = [stack.enter_context(connection.cursor())]
        for _ in range(streams - 1):
            try:
                sibling = stack.enter_context(_sibling(connection))
            except psycopg.OperationalError as error:
                # No connection to spare (max_connections, ...): slower, not failed.
                logger.warning("NDJSON export on %d connection(s): %s", len(cursors), error)
                break
            cursors.append(stack.enter_context(sibling.cursor()))
        streams = len(cursors)
        parts = []
        for stream, cursor in enumerate(cursors):
            query = _CONVERSATION_LINE.replace(
                "__selected__", _share(selected, stream=stream, streams=streams)
            )
            # COPY streams: PostgreSQL keeps producing while Python relays,
            # where a cursor's FETCH makes each side wait for the other. All
            # the COPYs start here, at once. COPY cannot take bind parameters.
            copy_sql = f"COPY ({ops.compose_sql(query, params)}) TO STDOUT (FORMAT binary)"
            copy = stack.enter_context(cursor.copy(copy_sql))
            copy.set_types(["bytea"])  # in binary, a text value is its UTF-8 bytes
            parts.append(copy.rows())
        while True:
            for part in parts:
                row = next(part, None)
                if row is None:
                    # The streams differ by one line at most: once one has
                    # ended, the others have too (reading them to the end
                    # leaves each COPY finished).
                    if any(True for rest in parts for _ in rest):
                        raise RuntimeError("export streams out of step")
                    return
                # Newlines inside JSON strings are escaped; a raw one could
                # only be whitespace between tokens, and it would split the line.
                yield row[0].replace(b"\n", b" ") + b"\n"


def message_csv(conversations: QuerySet[Conversation]) -> Iterator[bytes]:
    """The CSV as PostgreSQL's COPY writes it, header first, relayed as it
    comes; text cells neutralised in the query (``csv_safety``)."""
    selected, params = _selected(conversations)
    connection = connections[conversations.db]
    ops: Any = connection.ops  # PostgreSQL's: merges parameters as psycopg does
    # COPY cannot take bind parameters, and Django's debug cursor (DEBUG,
    # query logging) passes none to copy(): they are merged in here.
    query = ops.compose_sql(_MESSAGE_ROWS.replace("__selected__", selected), params)
    copy_sql = f"COPY ({query}) TO STDOUT (FORMAT csv, HEADER)"
    with connection.cursor() as cursor, cursor.copy(copy_sql) as copy:
        yield from copy
