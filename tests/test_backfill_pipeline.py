"""The backfill's reading process: same batches, errors raised, never left behind."""

import hashlib
import multiprocessing
import os
import pickle

import pytest

from conversations import bulk
from conversations.dumps import Record
from conversations.management.commands import backfill as command
from conversations.payloads import ParsedMessage, message_fingerprint, parse_event
from tests.backfill_helpers import archive, backfill, empty_the_archive, generated_events, write
from tests.builders import closed_event, created_event, message

pytestmark = pytest.mark.django_db


def batches_as_read(batches):
    return [
        [(e.position, e.raw, e.dedupe_key, e.problem, e.prepared) for e in batch.events]
        for batch in batches
    ]


def test_the_reading_process_yields_the_batches_the_thread_yields(tmp_path):
    dump = write(tmp_path / "dump.ndjson", [*generated_events(), "not an event", {"x": 1}])

    in_process = batches_as_read(command._read_in_process([str(dump)], 7))
    on_thread = batches_as_read(command._read_on_thread([str(dump)], 7))

    assert in_process == on_thread
    assert len(in_process) > 1


def test_a_dump_loads_the_same_archive_through_the_process_and_the_thread(tmp_path, monkeypatch):
    dump = write(tmp_path / "dump.ndjson", generated_events())
    backfill(dump)
    through_process = archive()

    monkeypatch.setattr(command, "_read_in_process", command._read_on_thread)
    empty_the_archive()
    backfill(dump)

    assert archive() == through_process


def test_an_error_in_the_reading_process_is_raised_in_the_command(tmp_path, monkeypatch):
    dump = write(tmp_path / "dump.ndjson", [created_event("c1", 1)])

    def failing_read(source):
        yield Record(position=None, payload=created_event("c2", 2))
        raise PermissionError(13, "cannot read", source)

    monkeypatch.setattr(command, "read_source", failing_read)

    with pytest.raises(PermissionError, match="cannot read"):
        backfill(dump)
    assert multiprocessing.active_children() == []


def test_the_reading_process_is_ended_when_the_command_stops_early(tmp_path, monkeypatch):
    # Ctrl-C (or any error) in the main process while the reader is ahead.
    dump = write(tmp_path / "dump.ndjson", [created_event(f"c{i}", i + 1) for i in range(50)])

    def interrupted(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(command, "backfill_events", interrupted)

    with pytest.raises(KeyboardInterrupt):
        backfill(dump, "--batch-size", "1")
    assert multiprocessing.active_children() == []


def test_the_reading_process_is_another_process(tmp_path, monkeypatch):
    dump = write(tmp_path / "dump.ndjson", [created_event("c1", 1)])
    seen = []
    real_batches = command._batches

    def batches(sources, size):
        seen.append(os.getpid())
        yield from real_batches(sources, size)

    monkeypatch.setattr(command, "_batches", batches)

    list(command._read_in_process([str(dump)], 10))

    # The child appended to its own copy of the list: the parent's stays empty.
    assert seen == []


def test_standard_input_is_read_on_a_thread():
    assert command._read_ahead(["-"], 10).__name__ == "_read_on_thread"


def test_message_fingerprint_is_sha256_of_the_parts_each_ended_by_nul():
    parts = ("agent-7", "ADVISER", "1546300800123", "Zażółć gęślą jaźń \ud800")
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")

    assert message_fingerprint("agent-7", "ADVISER", 1546300800123, parts[3]) == digest.hexdigest()


def test_parsed_messages_survive_pickling_as_themselves():
    event = parse_event(
        closed_event("c1", 5, [message("CUSTOMER", "Dzień dobry", 3), message("ADVISER", "Hi", 4)])
    )

    copied = pickle.loads(pickle.dumps(event))  # noqa: S301 (our own bytes)

    assert copied == event
    assert all(type(m) is ParsedMessage for m in copied.messages)
    assert copied.messages[0].fingerprint == event.messages[0].fingerprint


@pytest.mark.django_db(transaction=True)  # the batch's own transaction, not a savepoint
def test_a_large_batch_commits_asynchronously_and_only_itself():
    from django.db import connection, transaction

    from webhooks.backfill import _tune_backfill_transaction

    def setting():
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return cursor.fetchone()[0]

    with transaction.atomic():
        _tune_backfill_transaction(bulk.COPY_THRESHOLD)
        inside = setting()
    assert (inside, setting()) == ("off", "on")
