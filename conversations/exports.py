"""Export of conversations as NDJSON and messages as CSV.

Shared by the admin's export action and the REST API's streaming endpoints.
Both functions take a queryset of conversations (already filtered by the
caller) and return an iterator of bytes for a ``StreamingHttpResponse``.

Memory does not depend on the size of the export, and neither does the
number of queries:

- On PostgreSQL (``export_sql``) the database writes the text and streams
  it with ``COPY ... TO STDOUT``: each NDJSON line whole, and the CSV rows.
  Python relays bytes. Loading rows into datetimes and dicts only to turn
  them straight back into text made the export ~17x slower than COPY; see
  docs/benchmarks.md. Building the JSON is then the export's cost, so the
  NDJSON lines come from two connections at once (the request's and a
  sibling sharing its snapshot), taking turns line by line.
- Elsewhere (SQLite for ``make run``) the same output is built in Python
  from two ``values_list`` cursors ordered by conversation id and merged:
  two queries in all, never one per conversation.
- Output is handed to the server in ~64 KiB chunks, not one write per row.

Both paths give the same JSON and CSV values (tests hold them together, and
to ``GET /api/v1/conversations/{id}/``); timestamps are ISO 8601 in UTC with
a ``Z``, with a fraction only when there is one, exactly as DRF renders them.

Why a transaction: everything an export reads must come from one snapshot,
so that a message committed mid-export cannot appear without its
conversation. A streaming response's body runs after the view has returned,
so the transaction is opened inside the generator, around the iteration. On
PostgreSQL it is read-only and REPEATABLE READ, and its snapshot is exported
to the sibling connection (``pg_export_snapshot()``): both read the same rows.
"""

import csv
import io
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from json.encoder import encode_basestring as _encode_json_string  # C; keeps UTF-8
from typing import Any

from django.db import connections, transaction
from django.db.models import QuerySet

from . import export_sql as postgres
from .csv_safety import UTF8_BOM, safe_text
from .export_columns import MESSAGE_CSV_COLUMNS
from .models import Conversation, Message

# Rows fetched per round trip by the portable path's cursors.
CHUNK_SIZE = 5000
# Bytes gathered before handing a chunk to the server.
OUTPUT_CHUNK_BYTES = 64 * 1024

# Columns read for one NDJSON line; conversation_record() unpacks them in order.
_CONVERSATION_COLUMNS = (
    "pk",
    "closer_id",
    "status",
    "closed_type",
    "opened_at",
    "closed_at",
    "created_event_missing",
    "visitor_context",
    "message_count",
    "updated_at",
    "customer__closer_id",
    "customer__first_name",
    "customer__last_name",
    "customer__random_name",
    "customer__email",
    "customer__phone",
    "assignee__closer_id",
    "assignee__first_name",
    "assignee__last_name",
    "assignee__email",
    "assignee__is_bot",
)
_TRANSCRIPT_COLUMNS = (
    "conversation_id",
    "pk",
    "sent_at",
    "author_role",
    "author_closer_id",
    "author_email",
    "author_phone",
    "text",
)
_CSV_COLUMNS = (
    "pk",
    "conversation_id",
    "sent_at",
    "author_role",
    "author_closer_id",
    "author_email",
    "author_phone",
    "text",
    "conversation__customer__closer_id",
    "conversation__customer__first_name",
    "conversation__customer__last_name",
    "conversation__customer__random_name",
    "conversation__customer__email",
    "conversation__customer__phone",
    "conversation__assignee__closer_id",
    "conversation__assignee__first_name",
    "conversation__assignee__last_name",
    "conversation__assignee__email",
)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, exactly as DRF renders datetimes."""
    return value.isoformat().replace("+00:00", "Z") if value else None


def person_name(first_name: str, last_name: str, *fallbacks: str) -> str:
    """The name shown for a customer or adviser (same rule as their ``__str__``)."""
    full = f"{first_name} {last_name}".strip()
    return full or next((value for value in fallbacks if value), "")


def message_json(row: tuple[Any, ...]) -> str:
    """One transcript message as compact JSON (TranscriptMessageSerializer's keys).

    Written with the C string encoder into a template rather than by
    json.dumps of a dict: this runs once per message, millions of times.
    """
    _, pk, sent_at, role, author_id, author_email, author_phone, text = row
    encode = _encode_json_string
    return (
        f'{{"id":{pk},"sent_at":"{iso(sent_at)}","author_role":{encode(role)},'
        f'"author_id":{encode(author_id)},"author_email":{encode(author_email)},'
        f'"author_phone":{encode(author_phone)},"text":{encode(text)}}}'
    )


def conversation_record(row: tuple[Any, ...]) -> dict[str, Any]:
    """A conversation in the shape of ``GET /api/v1/conversations/{id}/``,
    with its messages (the last key) still empty."""
    (
        pk,
        closer_id,
        status,
        closed_type,
        opened_at,
        closed_at,
        created_event_missing,
        visitor_context,
        message_count,
        updated_at,
        *people,
    ) = row
    c_id, c_first, c_last, c_alias, c_email, c_phone, a_id, a_first, a_last, a_email, a_bot = people
    return {
        "id": pk,
        "closer_id": closer_id,
        "status": status,
        "closed_type": closed_type,
        "opened_at": iso(opened_at),
        "closed_at": iso(closed_at),
        "created_event_missing": created_event_missing,
        "customer": {
            "id": c_id,
            "first_name": c_first,
            "last_name": c_last,
            "alias": c_alias,
            "email": c_email,
            "phone": c_phone,
        },
        "adviser": None
        if a_id is None
        else {
            "id": a_id,
            "first_name": a_first,
            "last_name": a_last,
            "email": a_email,
            "is_bot": a_bot,
        },
        "visitor_context": visitor_context,
        "message_count": message_count,
        "updated_at": iso(updated_at),
        "messages": [],
    }


@contextmanager
def _read_snapshot(using: str) -> Iterator[bool]:
    """A transaction, so everything the export reads sees one snapshot; on
    PostgreSQL a read-only REPEATABLE READ one of our own, whose snapshot
    sibling connections may share: yields True when that is so.

    Inside an existing transaction (a test, or a caller's own atomic block)
    the isolation level cannot change any more; the caller's is kept, and
    False tells the export to read on this connection alone.
    """
    connection = connections[using]
    outermost = not connection.in_atomic_block
    with transaction.atomic(using=using):
        ours = outermost and connection.vendor == "postgresql"
        if ours:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield ours


def _in_chunks(pieces: Iterable[str | bytes]) -> Iterator[bytes]:
    """Join small pieces (text, or UTF-8 bytes) into ~OUTPUT_CHUNK_BYTES chunks."""
    batch: list[bytes] = []
    size = 0
    for piece in pieces:
        data = piece.encode() if isinstance(piece, str) else bytes(piece)
        batch.append(data)
        size += len(data)
        if size >= OUTPUT_CHUNK_BYTES:
            yield b"".join(batch)
            batch.clear()
            size = 0
    if batch:
        yield b"".join(batch)


def _conversation_lines_in_python(conversations: QuerySet[Conversation]) -> Iterator[str]:
    rows = conversations.order_by("pk").values_list(*_CONVERSATION_COLUMNS)
    # The same selection as a subquery, so only the exported conversations'
    # messages are read, in the order the merge below consumes them.
    messages = (
        Message.objects.using(conversations.db)
        .filter(conversation__in=conversations.order_by().values("pk"))
        .order_by("conversation_id", "sent_at", "pk")
        .values_list(*_TRANSCRIPT_COLUMNS)
        .iterator(chunk_size=CHUNK_SIZE)
    )
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    pending = next(messages, None)
    for row in rows.iterator(chunk_size=CHUNK_SIZE):
        conversation_id = row[0]
        transcript = []
        # Both streams are ordered by conversation id: take this one's messages.
        while pending is not None and pending[0] <= conversation_id:
            if pending[0] == conversation_id:
                transcript.append(message_json(pending))
            pending = next(messages, None)
        # The record ends with its empty transcript, '"messages":[]}': fill it in.
        yield f"{dumps(conversation_record(row))[:-2]}{','.join(transcript)}]}}\n"


def stream_conversations_ndjson(conversations: QuerySet[Conversation]) -> Iterator[bytes]:
    """One JSON object per line: a conversation with its whole transcript,
    in conversation id order."""
    with _read_snapshot(conversations.db) as own_snapshot:
        if connections[conversations.db].vendor != "postgresql":
            yield from _in_chunks(_conversation_lines_in_python(conversations))
            return
        # Sibling connections share the snapshot only of a transaction that
        # is ours: a caller's may hold writes no other session can see.
        streams = postgres.STREAMS if own_snapshot else 1
        yield from _in_chunks(postgres.conversation_lines(conversations, streams=streams))


class _LineBuffer:
    """A file-like sink for csv.writer that hands back what was written."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()

    def write(self, text: str) -> int:
        return self._buffer.write(text)

    def take(self) -> str:
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text


def _message_rows_in_python(conversations: QuerySet[Conversation]) -> Iterator[str]:
    sink = _LineBuffer()
    csv.writer(sink, lineterminator="\n").writerow(MESSAGE_CSV_COLUMNS)  # as COPY's HEADER
    yield sink.take()
    # Text quoted, always: Python's writer quotes a field holding "\n" but
    # not one holding a lone "\r" (a message can), which would split the row.
    # COPY quotes both; the cells read back the same.
    writer = csv.writer(sink, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
    rows = (
        Message.objects.using(conversations.db)
        .filter(conversation__in=conversations.order_by().values("pk"))
        .order_by("conversation_id", "sent_at", "pk")
        .values_list(*_CSV_COLUMNS)
    )
    for row in rows.iterator(chunk_size=CHUNK_SIZE):
        (
            pk,
            conversation_id,
            sent_at,
            role,
            author_id,
            author_email,
            author_phone,
            text,
            c_id,
            c_first,
            c_last,
            c_alias,
            c_email,
            c_phone,
            a_id,
            a_first,
            a_last,
            a_email,
        ) = row
        # Text cells through csv_safety's rule; the ids and the time are ours.
        writer.writerow(
            [
                pk,
                conversation_id,
                iso(sent_at),
                *map(
                    safe_text,
                    (
                        role,
                        author_id,
                        author_email,
                        author_phone,
                        text,
                        c_id,
                        person_name(c_first, c_last, c_alias, c_email, c_id),
                        c_email,
                        c_phone,
                        a_id or "",
                        person_name(a_first, a_last, a_email, a_id) if a_id else "",
                        a_email or "",
                    ),
                ),
            ]
        )
        yield sink.take()


def stream_messages_csv(
    conversations: QuerySet[Conversation], *, bom: bool = False
) -> Iterator[bytes]:
    """One CSV row per message (with its conversation's customer and adviser),
    after a header row; ordered by conversation id, then time. Text cells are
    safe to open in a spreadsheet (``csv_safety``); ``bom`` starts the file
    with a UTF-8 byte order mark, for Excel."""
    if bom:
        yield UTF8_BOM
    with _read_snapshot(conversations.db):
        if connections[conversations.db].vendor == "postgresql":
            yield from _in_chunks(postgres.message_csv(conversations))
        else:
            yield from _in_chunks(_message_rows_in_python(conversations))
