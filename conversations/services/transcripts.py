"""Transcripts: a conversation's messages, its preview, count and search document.

Messages come only from closed events and never move between conversations
(a row keeps its closed event), so this module is the only writer of
messages and of the summaries derived from them. ``summarise`` is the one
definition of those summaries: a conversation this batch creates gets them
from the batch's transcript in the INSERT that creates it; one that
existed gets them recomputed from its stored messages once the new ones
are in.

The search document is kept here rather than by a database trigger: a
trigger would run after the messages' COPY and write every new
conversation row a second time (docs/architecture.md, "Transcripts").
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from django.contrib.postgres.search import SearchVectorField
from django.db import connection
from django.db.models import Func, Value
from django.utils import timezone

from ..bulk import stage_rows, use_copy
from ..identity import CLOSED, conversation_key
from ..models import Conversation, Customer, Message, MessageRole
from ..payloads import ParsedEvent, ParsedMessage, ms_to_datetime

PREVIEW_LENGTH = 200
# The messages' texts in transcript order, joined by spaces, unaccented, as
# a ``simple`` vector (migration 0002 says why both) of the first 100,000
# characters: a tsvector holds at most 1 MB and to_tsvector raises past it,
# which would make a long conversation impossible to archive. Migration
# 0006 filled existing rows with the same SQL.
TRANSCRIPT_DOCUMENT = "to_tsvector('simple'::regconfig, closer_unaccent(left({text}, 100000)))"


@dataclass(frozen=True)
class Summary:
    message_count: int
    preview: str
    document_text: str | None  # None without messages


def summarise(messages: Sequence[tuple[str, str]]) -> Summary:
    """The summary of a transcript: ``messages`` are (author role, text) in
    transcript order (time, then arrival). The preview is the first customer
    message, else the first message, cut to ``PREVIEW_LENGTH``."""
    first = next((text for role, text in messages if role == MessageRole.CUSTOMER), None)
    if first is None:
        first = messages[0][1] if messages else ""
    return Summary(
        message_count=len(messages),
        preview=first[:PREVIEW_LENGTH],
        document_text=" ".join(text for _, text in messages) if messages else None,
    )


class _TranscriptDocument(Func):
    template = TRANSCRIPT_DOCUMENT.format(text="%(expressions)s")
    output_field = SearchVectorField()


def transcript_document(text: str | None) -> _TranscriptDocument | None:
    """The search document of a transcript joined as ``text``; None without
    messages, and on SQLite, which has no vectors."""
    if text is None or connection.vendor != "postgresql":
        return None
    return _TranscriptDocument(Value(text))


class Transcript(dict[str, ParsedMessage]):
    """One conversation's messages in this batch, by fingerprint, in arrival
    order. A re-delivered message replaces its earlier copy in place (same
    identity, so the same row) and keeps its position."""

    def summary(self) -> Summary:
        # sorted() is stable: messages of the same time stay in arrival order,
        # the id order their rows get.
        ordered = sorted(self.values(), key=lambda message: message.sent_ms)
        return summarise([(message.author_role, message.text) for message in ordered])


def transcripts_of(
    parsed: list[tuple[ParsedEvent, int | None]], customers: dict[str, Customer]
) -> dict[tuple[Any, ...], Transcript]:
    """The closed events' messages, by the ``conversation_key`` they belong to."""
    transcripts: dict[tuple[Any, ...], Transcript] = defaultdict(Transcript)
    for event, _ in parsed:
        if event.kind != CLOSED or not event.messages:
            continue
        transcript = transcripts[
            conversation_key(
                customer_id=customers[event.customer.closer_id].pk,
                closer_id=event.conversation_ref,
                created_ms=None,
                closed_ms=event.occurred_ms,
            )
        ]
        for message in event.messages:
            transcript[message.fingerprint] = message
    return transcripts


def insert_messages(
    transcripts: dict[tuple[Any, ...], Transcript],
    *,
    conversation_ids: dict[tuple[Any, ...], int],
    created_ids: set[int],
) -> int:
    """Store the transcripts; return how many messages were new.

    ``conversation_ids``: each key's row; ``created_ids``: the rows this
    batch created, which already carry their summaries. The others are
    summarised again once their new messages are in.
    """
    fresh_rows: list[tuple[Any, ...]] = []
    known_rows: list[tuple[Any, ...]] = []
    for key, transcript in transcripts.items():
        conversation_id = conversation_ids[key]
        rows = fresh_rows if conversation_id in created_ids else known_rows
        rows.extend((conversation_id, *row) for row in transcript.values())
    if use_copy(len(fresh_rows) + len(known_rows)):
        _copy_messages(fresh_rows, known_rows)
    else:
        Message.objects.bulk_create(
            [
                Message(
                    conversation_id=row[0],
                    author_role=row[1],
                    author_closer_id=row[2],
                    author_email=row[3],
                    author_phone=row[4],
                    text=row[5],
                    sent_at=ms_to_datetime(row[6]),
                    fingerprint=row[7],
                )
                for row in [*fresh_rows, *known_rows]
            ],
            ignore_conflicts=True,
        )
    if not known_rows:
        return len(fresh_rows)
    return len(fresh_rows) + _summarise_stored(sorted({row[0] for row in known_rows}))


# bulk_update writes one CASE per column listing every row: chunks keep the
# statement from growing with the batch.
_UPDATE_CHUNK = 100


def _summarise_stored(conversation_ids: list[int]) -> int:
    """Recompute the summaries of conversations from their stored messages;
    return how many messages they gained."""
    stored = (
        Message.objects.filter(conversation_id__in=conversation_ids)
        .order_by("conversation_id", "sent_at", "id")
        .values_list("conversation_id", "author_role", "text")
    )
    summaries = {
        conversation_id: summarise([(role, text) for _, role, text in rows])
        for conversation_id, rows in groupby(stored, key=lambda row: row[0])
    }
    now = timezone.now()
    gained = 0
    changed = []
    for conversation in Conversation.objects.filter(pk__in=list(summaries)).only(
        "message_count", "preview"
    ):
        summary = summaries[conversation.pk]
        if (conversation.message_count, conversation.preview) == (
            summary.message_count,
            summary.preview,
        ):
            continue  # nothing new: a re-delivered transcript
        gained += summary.message_count - conversation.message_count
        conversation.message_count = summary.message_count
        conversation.preview = summary.preview
        conversation.transcript_search = transcript_document(summary.document_text)
        conversation.updated_at = now
        changed.append(conversation)
    Conversation.objects.bulk_update(
        changed,
        ["message_count", "preview", "transcript_search", "updated_at"],
        batch_size=_UPDATE_CHUNK,
    )
    return gained


# --- COPY on PostgreSQL (conversations.bulk) -------------------------------------

_MESSAGE_COLUMNS = (
    "conversation_id",
    "author_role",
    "author_closer_id",
    "author_email",
    "author_phone",
    "text",
    "sent_ms",
    "fingerprint",
)
_MESSAGE_STAGE = "conversations_message_stage"
_MESSAGE_STAGE_COLUMNS = tuple(
    (name, "bigint" if name in ("conversation_id", "sent_ms") else "text")
    for name in _MESSAGE_COLUMNS
)


def _copy_messages(fresh: list[tuple[Any, ...]], known: list[tuple[Any, ...]]) -> None:
    """COPY the messages of conversations this batch created straight into
    the table: they cannot conflict (deduplicated by fingerprint, and the
    conversation had no messages before). Stage the rest and insert those
    not stored yet: INSERT .. ON CONFLICT costs several times a plain COPY,
    and in a backfill nearly every message belongs to a new conversation.
    """
    if fresh:
        with connection.cursor() as cursor, cursor.cursor.copy(_COPY_MESSAGES) as copy:
            copy.set_types(_COPY_MESSAGES_TYPES)
            for row in fresh:
                copy.write_row((*row[:6], (row[6] - _POSTGRES_EPOCH_MS) * 1000, row[7]))
    if known:
        stage_rows(stage=_MESSAGE_STAGE, columns=_MESSAGE_STAGE_COLUMNS, rows=known)
        with connection.cursor() as cursor:
            cursor.execute(_INSERT_STAGED_MESSAGES)


# Binary: no text escaping in Python, no timestamp parsing in the server.
_COPY_MESSAGES = "COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)".format(
    table=Message._meta.db_table, columns=", ".join(_MESSAGE_COLUMNS).replace("sent_ms", "sent_at")
)
# sent_at goes out as int8: in binary COPY a timestamptz is an int64 count of
# microseconds since 2000-01-01 UTC, so the server reads the same value
# without a datetime built and dumped per message.
_COPY_MESSAGES_TYPES = [sql_type for _, sql_type in _MESSAGE_STAGE_COLUMNS]
_POSTGRES_EPOCH_MS = 946_684_800_000  # 2000-01-01T00:00:00Z in Unix epoch milliseconds
# Epoch milliseconds to timestamptz in exact integer arithmetic.
_SENT_AT = "TIMESTAMPTZ 'epoch' + sent_ms * INTERVAL '1 millisecond'"
_INSERT_STAGED_MESSAGES = (
    "INSERT INTO {table} ({columns}) SELECT {values} FROM {stage} {conflict}".format(  # noqa: S608 (names only, no values)
        table=Message._meta.db_table,
        columns=", ".join(_MESSAGE_COLUMNS).replace("sent_ms", "sent_at"),
        values=", ".join(_MESSAGE_COLUMNS).replace("sent_ms", _SENT_AT),
        stage=_MESSAGE_STAGE,
        conflict="ON CONFLICT (conversation_id, fingerprint) DO NOTHING",
    )
)
