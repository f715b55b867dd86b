"""How the exports read PostgreSQL: lazily, from one consistent snapshot."""

import json
import threading

import psycopg
import pytest
from django.db import connection

from conversations import export_sql, exports
from conversations.exports import stream_conversations_ndjson, stream_messages_csv
from conversations.models import Conversation
from tests.api_support import closed_conversation, open_conversation
from tests.processes import wait_until


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


def export_backends():
    """The other sessions on the test database, seen from a connection of
    their own (the export's connection is busy with its COPY)."""
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as observer:
        return observer.execute(
            "SELECT pid, state, backend_xmin, query FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()


def only_this_connection_is_left():
    return [pid for pid, *_ in export_backends()] == [connection.connection.info.backend_pid]


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_ndjson_streams_over_connections_sharing_a_snapshot(
    line_by_line,
):
    for day in (1, 2, 3):
        closed_conversation(f"c-{day}", f"2024-05-0{day}T10:00:00")
    stream = stream_conversations_ndjson(Conversation.objects.all())

    next(stream), next(stream)  # one line from each connection
    backends = export_backends()
    list(stream)

    assert len(backends) == export_sql.STREAMS
    # Every COPY streams (no cursor makes PostgreSQL build the result first),
    # each in a transaction holding the same snapshot.
    assert all(query.startswith("COPY (") for *_, query in backends)
    assert len({xmin for _, _, xmin, _ in backends}) == 1
    assert not connection.in_atomic_block
    assert only_this_connection_is_left()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("streams", [2, 3])
def test_lines_from_several_connections_are_those_of_one_in_the_same_order(streams):
    for day in range(1, 8):
        closed_conversation(f"c-{day}", f"2024-05-0{day}T10:00:00", texts=("x", "x"))
    open_conversation("c-open", "2024-05-09T10:00:00")
    # Joined to its messages, the selection holds each id twice.
    selections = [Conversation.objects.all(), Conversation.objects.filter(messages__text="x")]

    for conversations in selections:
        with exports._read_snapshot("default"):
            alone = list(export_sql.conversation_lines(conversations))
            shared = list(export_sql.conversation_lines(conversations, streams=streams))
        assert shared == alone
    assert len(alone) == 7


@pytest.mark.django_db(transaction=True)
def test_a_sibling_connection_lost_mid_export_is_an_error_not_a_hang():
    for day in (1, 2, 3):
        closed_conversation(f"c-{day}", f"2024-05-0{day}T10:00:00")
    params = connection.get_connection_params()
    stream = stream_conversations_ndjson(Conversation.objects.all())
    errors = []

    def export():
        try:
            list(stream)
        except Exception as error:  # what the test looks at
            errors.append(error)
        finally:
            connection.close()

    def sibling_ready():
        """The sibling, once its snapshot is imported and the first
        connection's COPY waits for the lock."""
        with psycopg.connect(**params, autocommit=True) as observer:
            sessions = observer.execute(
                "SELECT pid, application_name, state, wait_event_type FROM pg_stat_activity"
                " WHERE datname = current_database()"
            ).fetchall()
        siblings = [
            pid
            for pid, name, state, _ in sessions
            if name == export_sql.SIBLING_NAME and state == "idle in transaction"
        ]
        return siblings if any(wait == "Lock" for *_, wait in sessions) else []

    # Holds the export's COPYs back, so the sibling is lost before it starts.
    with psycopg.connect(**params) as holder:
        holder.execute("LOCK TABLE conversations_message IN ACCESS EXCLUSIVE MODE")
        exporter = threading.Thread(target=export)
        exporter.start()
        (sibling,) = wait_until(sibling_ready, timeout=30, what="the export's sibling")
        holder.execute("SELECT pg_terminate_backend(%s)", [sibling])
        holder.rollback()
    exporter.join(timeout=30)

    assert not exporter.is_alive()
    (error,) = errors
    assert isinstance(error, psycopg.OperationalError)  # AdminShutdown, here
    assert only_this_connection_is_left()  # the export's two are gone


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


@pytest.mark.django_db(transaction=True)
def test_without_a_second_connection_the_export_reads_on_one(caplog):
    for day in (1, 2, 3):
        closed_conversation(f"c-{day}", f"2024-05-0{day}T10:00:00")
    params = connection.get_connection_params()
    # Refuses every new connection, superusers' too; the open ones stay.
    alter = f'ALTER DATABASE "{params["dbname"]}" WITH ALLOW_CONNECTIONS '
    with psycopg.connect(**{**params, "dbname": "postgres"}, autocommit=True) as admin:
        connection.ensure_connection()
        admin.execute(alter + "false")
        try:
            body = b"".join(stream_conversations_ndjson(Conversation.objects.all()))
        finally:
            admin.execute(alter + "true")

    lines = [json.loads(line) for line in body.decode().splitlines()]
    assert [line["customer"]["id"] for line in lines] == ["c-1", "c-2", "c-3"]
    assert "on 1 connection(s)" in caplog.text
