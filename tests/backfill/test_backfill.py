"""manage.py backfill: dumps in, the same archive as webhooks would make, safely twice."""

import io
import json
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from backfill.services import backfill_events
from conversations import bulk
from conversations.models import Conversation, Customer, Message
from conversations.payloads import MAX_EPOCH_MS
from conversations.services import IncomingEvent, apply_events
from tests.backfill_helpers import (
    FOUR_BAD_RECORDS_AMONG_TWO_GOOD,
    archive,
    backfill,
    empty_the_archive,
    generated_events,
    summary,
    write,
)
from tests.builders import closed_event, created_event, message
from tests.db_faults import before_insert, refuse_closer_id
from webhooks.dedupe import dedupe_key_for
from webhooks.models import EventSource, EventStatus, InboundEvent

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def dumped() -> list[dict]:
    return generated_events()


def archive_made_by_the_normaliser(payloads: list[dict]) -> dict:
    apply_events([IncomingEvent(payload=p) for p in payloads])
    state = archive()
    empty_the_archive()
    return state


@pytest.mark.parametrize("dump_format", ["ndjson", "array", "object"])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_each_format_and_compression_gives_the_archive_the_normaliser_gives(
    tmp_path, dumped, dump_format, suffix
):
    expected = archive_made_by_the_normaliser(dumped)
    path = write(tmp_path / f"dump.{dump_format}{suffix}", dumped, dump_format)

    stdout, _ = backfill(path)

    assert archive() == expected
    assert summary(stdout)["events read"] == str(len(dumped))


def test_a_dash_reads_standard_input(tmp_path, dumped, monkeypatch):
    expected = archive_made_by_the_normaliser(dumped)
    data = write(tmp_path / "dump.ndjson.gz", dumped).read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))

    stdout, _ = backfill("-")

    assert archive() == expected
    assert summary(stdout)["files"] == "1"


def test_a_directory_loads_every_dump_file_inside_in_any_mix_of_formats(tmp_path, dumped):
    expected = archive_made_by_the_normaliser(dumped)
    third = len(dumped) // 3
    write(tmp_path / "2019.json", dumped[:third], "array")
    write(tmp_path / "2020" / "events.ndjson.gz", dumped[third : 2 * third]) if (
        tmp_path / "2020"
    ).mkdir() is None else None
    write(tmp_path / "2021.jsonl", dumped[2 * third :])
    (tmp_path / "README.txt").write_text("not a dump")

    stdout, _ = backfill(tmp_path)

    assert archive() == expected
    assert summary(stdout)["files"] == "3"


def test_a_second_run_adds_nothing_and_says_so(tmp_path, dumped):
    path = write(tmp_path / "dump.ndjson", dumped)
    backfill(path)
    before = archive()
    inbox = InboundEvent.objects.count()

    stdout, _ = backfill(path)

    assert archive() == before
    assert InboundEvent.objects.count() == inbox
    assert summary(stdout)["duplicates skipped"] == str(len(dumped))
    assert summary(stdout)["new messages"] == "0"
    assert "Nothing new: every event was already backfilled." in stdout


@pytest.mark.parametrize("batch_size", [1, 1000])
def test_duplicates_within_one_run_are_skipped_and_counted(tmp_path, batch_size):
    created, closed = created_event("c1", 1_000_000), closed_event("c1", 2_000_000)
    path = write(tmp_path / "dump.ndjson", [created, closed, created, closed, closed])

    stdout, _ = backfill(path, "--batch-size", batch_size)

    assert summary(stdout)["duplicates skipped"] == "3"
    assert summary(stdout)["new conversations"] == "1"
    assert Conversation.objects.get().message_count == 2
    assert InboundEvent.objects.count() == 2


def test_shuffled_and_sorted_dumps_with_duplicates_give_the_same_archive(tmp_path):
    sorted_dump = write(tmp_path / "sorted.ndjson", generated_events())
    shuffled_dump = write(
        tmp_path / "shuffled.ndjson", generated_events(shuffle=True, duplicates=0.3)
    )
    backfill(sorted_dump, "--batch-size", 7)
    in_order = archive()
    empty_the_archive()

    backfill(shuffled_dump, "--batch-size", 7)

    assert archive() == in_order


def test_bulk_copy_and_orm_writes_give_the_same_archive(tmp_path, dumped, monkeypatch):
    path = write(tmp_path / "dump.ndjson", dumped)
    monkeypatch.setattr(bulk, "COPY_THRESHOLD", 10**9)
    backfill(path)
    by_orm = archive()
    empty_the_archive()
    monkeypatch.setattr(bulk, "COPY_THRESHOLD", 1)

    backfill(path)

    assert archive() == by_orm


def test_bad_records_go_to_the_errors_file_with_their_positions_and_the_rest_is_archived(
    tmp_path,
):
    path = tmp_path / "dump.ndjson"
    path.write_text(
        "\n".join(
            [
                *FOUR_BAD_RECORDS_AMONG_TWO_GOOD,
            ]
        )
    )
    errors = tmp_path / "errors.ndjson"

    with pytest.raises(CommandError, match="4 record"):
        backfill(path, "--errors", errors)

    reported = [json.loads(line) for line in errors.read_text().splitlines()]
    assert [(e["file"], e["line"]) for e in reported] == [
        (str(path), 4),
        (str(path), 2),
        (str(path), 3),
        (str(path), 5),
    ]
    reasons = {e["line"]: e["reason"] for e in reported}
    assert reasons[2] == "not a JSON object but an array"
    assert reasons[3] == "eventType is missing"
    assert reasons[4].startswith("invalid JSON")
    assert reasons[5] == "customer is missing or not an object"
    assert reported[1]["record"] == [1, 2]
    assert Conversation.objects.get().message_count == 2


def test_invalid_json_inside_an_array_keeps_what_came_before_and_goes_on_with_the_next_file(
    tmp_path,
):
    broken = tmp_path / "a.json"
    good = json.dumps([created_event("c1", 1_000_000), created_event("c2", 1_000_000)])
    broken.write_text(
        good[:-1] + ', {"eventType" "x"}, ' + json.dumps(created_event("c3", 1)) + "]"
    )
    write(tmp_path / "b.json", [created_event("c4", 1_000_000)], "array")
    errors = tmp_path / "errors.ndjson"

    with pytest.raises(CommandError):
        backfill(tmp_path / "a.json", tmp_path / "b.json", "--errors", errors)

    assert sorted(Customer.objects.values_list("closer_id", flat=True)) == ["c1", "c2", "c4"]
    (reported,) = [json.loads(line) for line in errors.read_text().splitlines()]
    assert (reported["file"], reported["index"]) == (str(broken), 2)


def test_a_record_that_fails_to_apply_is_isolated_and_nothing_of_it_is_stored(tmp_path):
    # A real database fault for one customer: the archive refuses to store it.
    poisoned = closed_event("c-bad", 2_000_000)
    payloads = [created_event(f"c{i}", 1_000_000) for i in range(5)]
    payloads.insert(3, poisoned)
    errors = tmp_path / "errors.ndjson"

    with (
        before_insert("conversations_customer", refuse_closer_id("c-bad")),
        pytest.raises(CommandError, match="1 record"),
    ):
        backfill(write(tmp_path / "dump.ndjson", payloads), "--errors", errors)

    (reported,) = [json.loads(line) for line in errors.read_text().splitlines()]
    assert reported["line"] == 4
    assert reported["reason"].startswith("failed to apply")
    assert Customer.objects.count() == 5
    assert not Customer.objects.filter(closer_id="c-bad").exists()
    assert InboundEvent.objects.count() == 5


def test_dry_run_validates_and_counts_but_writes_nothing(tmp_path, dumped):
    path = write(tmp_path / "dump.ndjson", [*dumped, {"eventType": "ThreadClosedEvent"}])

    with pytest.raises(CommandError, match="1 record"):
        backfill(path, "--dry-run")

    assert Customer.objects.count() == 0
    assert InboundEvent.objects.count() == 0


def test_dry_run_reports_what_a_real_run_would_add(tmp_path, dumped):
    path = write(tmp_path / "dump.ndjson", dumped)
    backfill(write(tmp_path / "first-half.ndjson", dumped[:10]))

    stdout, _ = backfill(path, "--dry-run")

    assert "Dry run: nothing was written." in stdout
    assert summary(stdout)["duplicates (already backfilled)"] == "10"
    assert InboundEvent.objects.count() == 10


def test_backfilled_events_sit_in_the_inbox_under_the_webhook_dedupe_key(tmp_path):
    event = closed_event("c1", 2_000_000)

    backfill(write(tmp_path / "dump.ndjson", [event]))

    stored = InboundEvent.objects.get()
    assert (stored.source, stored.endpoint, stored.status) == (
        EventSource.BACKFILL,
        None,
        EventStatus.PROCESSED,
    )
    assert stored.dedupe_key == dedupe_key_for(payload=event, headers={})
    assert json.loads(bytes(stored.raw_body)) == event
    assert (stored.event_type, stored.customer_closer_id) == ("ThreadClosedEvent", "c1")


def test_unknown_event_types_are_kept_as_skipped_and_are_not_errors(tmp_path):
    unknown = {"eventType": "ThreadTransferredEvent", "customer": {"id": "c1"}}

    stdout, _ = backfill(write(tmp_path / "dump.ndjson", [unknown]))

    assert InboundEvent.objects.get().status == EventStatus.SKIPPED
    assert summary(stdout)["unknown event types (kept, skipped)"] == "1"
    assert summary(stdout)["errors"] == "0"


def test_the_summary_names_files_events_conversations_messages_duplicates_errors_and_rate(
    tmp_path,
):
    path = write(tmp_path / "dump.ndjson", [created_event("c1", 1), closed_event("c1", 2_000)])

    stdout, _ = backfill(path)

    report = summary(stdout)
    assert {
        k: report[k] for k in ["files", "events read", "new conversations", "new messages"]
    } == {
        "files": "1",
        "events read": "2",
        "new conversations": "1",
        "new messages": "2",
    }
    assert report["duplicates skipped"] == report["errors"] == "0"
    assert report["elapsed"].endswith(" s")
    assert float(report["events/s"]) > 0


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_progress_bar_with_events_per_second_shows_on_a_terminal_only(tmp_path, monkeypatch):
    from django.core.management import call_command

    path = write(tmp_path / "dump.ndjson", [created_event("c1", 1)])
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)

    call_command("backfill", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    shown = terminal.getvalue()
    call_command("backfill", str(path), "--no-progress", stdout=io.StringIO(), stderr=io.StringIO())

    assert "events/s" in shown
    assert terminal.getvalue() == shown


def test_a_missing_path_fails_before_anything_is_written(tmp_path):
    path = write(tmp_path / "dump.ndjson", [created_event("c1", 1)])

    with pytest.raises(CommandError, match="no such file"):
        backfill(path, tmp_path / "missing.ndjson")

    assert Customer.objects.count() == 0


def test_a_batch_size_below_one_is_refused(tmp_path):
    with pytest.raises(CommandError, match="--batch-size"):
        backfill(write(tmp_path / "dump.ndjson", []), "--batch-size", 0)


@pytest.mark.parametrize(
    ("sent_ms", "sent_at"),
    [
        (1_560_177_613_051, "2019-06-10T14:40:13.051000+00:00"),
        (1_001, "1970-01-01T00:00:01.001000+00:00"),  # before PostgreSQL's epoch (2000)
        (MAX_EPOCH_MS, "9999-12-31T23:59:59.999000+00:00"),
    ],
)
def test_messages_survive_the_copy_path_exactly(tmp_path, monkeypatch, sent_ms, sent_at):
    monkeypatch.setattr(bulk, "COPY_THRESHOLD", 1)
    text = "Zażółć gęślą jaźń\ttab\\backslash\nnew line"
    event = closed_event("c1", MAX_EPOCH_MS, messages=[message("CUSTOMER", text, sent_ms)])

    backfill(write(tmp_path / "dump.ndjson", [event]))

    stored = Message.objects.get()
    assert stored.text == text
    assert stored.sent_at.isoformat() == sent_at
    assert Conversation.objects.get().preview == text


@pytest.mark.parametrize("copy_threshold", [1, 10**9])
def test_count_and_preview_are_the_same_whether_a_history_arrives_whole_or_in_parts(
    monkeypatch, copy_threshold
):
    monkeypatch.setattr(bulk, "COPY_THRESHOLD", copy_threshold)
    history = [
        message("ADVISER", "Dzień dobry!", 1_000, author_id="a1"),
        message("CUSTOMER", "Pierwsza", 2_000),
        message("CUSTOMER", "Tie, later in the list", 3_000),
        message("CUSTOMER", "Tie, earlier in the list", 3_000),
    ]
    whole = closed_event("c1", 9_000, messages=history)
    apply_events([IncomingEvent(payload=whole)])
    at_once = Conversation.objects.values("message_count", "preview").get()
    empty_the_archive()

    for part in (history[2:], history[:1], history):
        apply_events([IncomingEvent(payload=closed_event("c1", 9_000, messages=part))])

    assert Conversation.objects.values("message_count", "preview").get() == at_once
    assert at_once == {"message_count": 4, "preview": "Pierwsza"}


def test_a_record_nested_too_deeply_to_encode_is_an_error_not_the_end_of_the_run(tmp_path):
    deep = '{"eventType": "ThreadCreatedEvent", "nested": ' * 5000 + "{}" + "}" * 5000
    path = tmp_path / "dump.json"
    path.write_text(f"[{deep}, {json.dumps(created_event('c1', 1))}]")
    errors = tmp_path / "errors.ndjson"

    with pytest.raises(CommandError, match="1 record"):
        backfill(path, "--errors", errors)

    assert Customer.objects.get().closer_id == "c1"
    (reported,) = [json.loads(line) for line in errors.read_text().splitlines()]
    assert reported["index"] == 0


def test_a_database_error_no_record_caused_stops_the_run_with_a_clear_message(tmp_path):
    # A schema that is not migrated (a table missing) is nobody's bad record.
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE webhooks_customererasure RENAME TO customererasure_gone")
    errors = tmp_path / "errors.ndjson"
    dump = write(tmp_path / "dump.ndjson", [created_event(f"c{i}", 1_000_000) for i in range(4)])

    with pytest.raises(CommandError, match="stopped by a database error"):
        backfill(dump, "--errors", errors)

    assert errors.read_text() == ""  # no record was blamed


def test_ctrl_c_keeps_and_reports_the_batches_committed_before_it(tmp_path, monkeypatch):
    from backfill import in_process

    applied_batches = []

    def interrupted_at_the_third_batch(**kwargs):
        if len(applied_batches) == 2:
            raise KeyboardInterrupt
        applied_batches.append(kwargs["events"])
        return backfill_events(**kwargs)

    monkeypatch.setattr(in_process, "backfill_events", interrupted_at_the_third_batch)
    out = io.StringIO()
    dump = write(tmp_path / "dump.ndjson", [created_event(f"c{i}", 1_000_000) for i in range(5)])

    with pytest.raises(CommandError, match="interrupted") as raised:
        call_command("backfill", dump, "--batch-size", "2", "--no-progress", stdout=out)

    assert raised.value.returncode == 130
    assert summary(out.getvalue())["new events archived"] == "4"
    assert Customer.objects.count() == 4
