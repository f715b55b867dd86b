"""How the exports read PostgreSQL: lazily, from one consistent snapshot."""

import json
import threading

import pytest
from django.db import connection

from conversations import exports
from conversations.exports import stream_conversations_ndjson, stream_messages_csv
from conversations.models import Conversation
from tests.api_support import closed_conversation


@pytest.fixture
def line_by_line(monkeypatch):
    # Hand out every line as its own chunk, so a test can stop mid-export.
    monkeypatch.setattr(exports, "OUTPUT_CHUNK_BYTES", 1)


def cursors_and_isolation():
    with connection.cursor() as cursor:
        cursor.execute("SELECT is_holdable FROM pg_cursors")
        holdable = [row[0] for row in cursor.fetchall()]
        cursor.execute("SHOW transaction_isolation")
        return holdable, cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_ndjson_streams_from_a_plain_cursor_in_a_snapshot(line_by_line):
    for day in (1, 2, 3):
        closed_conversation(f"c-{day}", f"2024-05-0{day}T10:00:00")
    stream = stream_conversations_ndjson(Conversation.objects.all())

    next(stream)
    holdable, isolation = cursors_and_isolation()
    list(stream)

    # WITH HOLD cursors would make PostgreSQL materialise the whole result first.
    assert holdable and not any(holdable)
    assert isolation == "repeatable read"
    assert not connection.in_atomic_block


@pytest.mark.django_db(transaction=True)
def test_conversations_committed_mid_export_are_not_half_exported(line_by_line):
    for day in (1, 2, 3):
        closed_conversation(f"c-{day}", f"2024-05-0{day}T10:00:00")
    stream = stream_conversations_ndjson(Conversation.objects.all())
    first = next(stream)

    def archive_another():
        try:
            closed_conversation("late", "2024-05-09T10:00:00", texts=("late", "reply"))
        finally:
            connection.close()

    writer = threading.Thread(target=archive_another)
    writer.start()
    writer.join(timeout=30)
    rest = b"".join(stream)

    lines = [json.loads(line) for line in (first + rest).decode().splitlines()]
    assert [line["customer"]["id"] for line in lines] == ["c-1", "c-2", "c-3"]
    assert all(len(line["messages"]) == 2 for line in lines)
    assert Conversation.objects.count() == 4


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("export", [stream_conversations_ndjson, stream_messages_csv])
def test_closing_the_stream_early_ends_its_transaction(line_by_line, export):
    closed_conversation("c-1", "2024-05-01T10:00:00")
    closed_conversation("c-2", "2024-05-02T10:00:00")
    stream = export(Conversation.objects.all())
    next(stream), next(stream)

    stream.close()  # what the server does when the client goes away

    assert not connection.in_atomic_block
    assert cursors_and_isolation() == ([], "read committed")  # the connection is usable
