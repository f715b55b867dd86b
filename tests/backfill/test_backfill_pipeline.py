"""The backfill's read-ahead, fingerprints, and the batch transaction's settings."""

import hashlib
import threading

import pytest
from django.core.management.base import CommandError

from backfill import in_process
from backfill.dumps import Record
from conversations import bulk
from conversations.payloads import message_fingerprint
from tests.backfill_helpers import backfill, write
from tests.builders import created_event

pytestmark = pytest.mark.django_db


def test_an_error_while_reading_ahead_is_raised_in_the_command(tmp_path, monkeypatch):
    dump = write(tmp_path / "dump.ndjson", [created_event("c1", 1)])

    def failing_read(source, counter=None):
        yield Record(position=None, payload=created_event("c2", 2))
        raise PermissionError(13, "cannot read", source)

    monkeypatch.setattr(in_process, "read_source", failing_read)

    with pytest.raises(PermissionError, match="cannot read"):
        backfill(dump)
    assert not [t for t in threading.enumerate() if t.name == "backfill-reader"]


def test_the_reader_is_stopped_when_the_command_stops_early(tmp_path, monkeypatch):
    # Ctrl-C (or any error) in the main process while the reader is ahead.
    dump = write(tmp_path / "dump.ndjson", [created_event(f"c{i}", i + 1) for i in range(50)])

    def interrupted(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(in_process, "backfill_events", interrupted)

    with pytest.raises(CommandError, match="interrupted"):
        backfill(dump, "--batch-size", "1")
    assert not [t for t in threading.enumerate() if t.name == "backfill-reader"]


def test_message_fingerprint_is_sha256_of_the_parts_each_ended_by_nul():
    parts = ("agent-7", "ADVISER", "1546300800123", "Zażółć gęślą jaźń \ud800")
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")

    assert message_fingerprint("agent-7", "ADVISER", 1546300800123, parts[3]) == digest.hexdigest()


@pytest.mark.django_db(transaction=True)  # the batch's own transaction, not a savepoint
def test_a_large_batch_commits_asynchronously_and_only_itself():
    from django.db import connection, transaction

    from backfill.services import _tune_backfill_transaction

    def setting():
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return cursor.fetchone()[0]

    with transaction.atomic():
        _tune_backfill_transaction(bulk.COPY_THRESHOLD)
        inside = setting()
    assert (inside, setting()) == ("off", "on")


def test_a_large_batch_stores_raw_bodies_compressed_with_lz4(tmp_path, monkeypatch):
    from django.db import connection

    from tests.builders import closed_event, message

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        )
        if not cursor.fetchone()[0]:
            pytest.skip("this PostgreSQL was built without lz4")
    monkeypatch.setattr(bulk, "COPY_THRESHOLD", 1)
    long_history = [message("CUSTOMER", f"line {i} " * 40, 1_000 + i) for i in range(20)]

    backfill(write(tmp_path / "dump.ndjson", [closed_event("c1", 2_000_000, long_history)]))

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_column_compression(raw_body) FROM webhooks_inboundevent")
        assert cursor.fetchone()[0] == "lz4"
