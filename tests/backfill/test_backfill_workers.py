"""manage.py backfill --workers N: applier processes, each customer's events in one.

The archive must not depend on how the work is split or on the dump's
order: a dump backfilled by one process and by several (sorted and shuffled,
with duplicates and every quirk of the generated histories) gives exactly
the same archive, inbox and counts. The appliers are real forked processes
with their own connections, so these tests commit (transaction=True).
"""

import io
import json
import random

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from conversations.models import Customer
from tests.backfill.test_backfill_progress import last_bar, run_on_a_terminal, size
from tests.backfill_helpers import (
    FOUR_BAD_RECORDS_AMONG_TWO_GOOD,
    archive,
    backfill,
    empty_the_archive,
    generated_events,
    summary,
    write,
)
from tests.builders import closed_event, created_event
from tests.db_faults import before_insert, refuse_closer_id
from webhooks.models import InboundEvent

pytestmark = pytest.mark.django_db(transaction=True)

COUNTS = (
    "events read",
    "new events archived",
    "new conversations",
    "new messages",
    "duplicates skipped",
    "unknown event types (kept, skipped)",
    "errors",
)


def inbox() -> list[tuple[str, str, str, str]]:
    return sorted(
        InboundEvent.objects.values_list("dedupe_key", "event_type", "customer_closer_id", "status")
    )


def counts(stdout: str) -> dict[str, str]:
    return {name: summary(stdout)[name] for name in COUNTS}


@pytest.fixture(scope="module")
def dumps(tmp_path_factory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("dumps")
    return {
        "sorted": write(folder / "sorted.ndjson", generated_events()),
        "shuffled": write(
            folder / "shuffled.ndjson", generated_events(shuffle=True, duplicates=0.3)
        ),
        "array": write(
            folder / "shuffled.json", generated_events(shuffle=True, duplicates=0.1), "array"
        ),
    }


@pytest.mark.parametrize("workers", [2, 3])
@pytest.mark.parametrize("dump", ["shuffled", "array"])
def test_several_appliers_build_the_archive_one_process_builds(dumps, workers, dump):
    one_stdout, _ = backfill(dumps["sorted"], "--batch-size", 7, "--workers", 1)
    by_one = archive()
    empty_the_archive()

    stdout, _ = backfill(dumps[dump], "--batch-size", 7, "--workers", workers)

    assert archive() == by_one
    assert summary(stdout)["new messages"] == summary(one_stdout)["new messages"]
    assert summary(stdout)["new conversations"] == summary(one_stdout)["new conversations"]


def test_the_same_dump_gives_the_same_inbox_and_counts_on_one_process_and_on_three(dumps):
    one_stdout, _ = backfill(dumps["shuffled"], "--batch-size", 5, "--workers", 1)
    by_one = (archive(), inbox())
    empty_the_archive()

    stdout, _ = backfill(dumps["shuffled"], "--batch-size", 5, "--workers", 3)

    assert (archive(), inbox()) == by_one
    assert counts(stdout) == counts(one_stdout)


def test_a_second_run_with_appliers_adds_nothing(dumps):
    backfill(dumps["shuffled"], "--workers", 2)
    state = (archive(), inbox())

    stdout, _ = backfill(dumps["shuffled"], "--workers", 2)

    assert (archive(), inbox()) == state
    assert summary(stdout)["new events archived"] == "0"
    assert "Nothing new: every event was already backfilled." in stdout


def test_bad_records_are_reported_with_their_positions_whichever_applier_had_them(tmp_path):
    path = tmp_path / "dump.ndjson"
    path.write_text(
        "\n".join(
            [
                *FOUR_BAD_RECORDS_AMONG_TWO_GOOD,
                *[json.dumps(created_event(f"c{i}", 1_000_000)) for i in range(2, 9)],
            ]
        )
    )
    errors = tmp_path / "errors.ndjson"

    with pytest.raises(CommandError, match="4 record"):
        backfill(path, "--errors", errors, "--workers", 2, "--batch-size", 2)

    reported = {
        json.loads(line)["line"]: json.loads(line) for line in errors.read_text().splitlines()
    }
    assert sorted(reported) == [2, 3, 4, 5]
    assert reported[2]["reason"] == "not a JSON object but an array"
    assert reported[2]["record"] == [1, 2]
    assert reported[4]["reason"].startswith("invalid JSON")
    assert reported[5]["reason"] == "customer is missing or not an object"
    assert Customer.objects.count() == 8


@pytest.fixture
def refusing_one_customer():
    """A real database fault for the customer c-bad (dropped after the test,
    which commits)."""
    with before_insert("conversations_customer", refuse_closer_id("c-bad")):
        yield


def test_a_record_that_fails_in_an_applier_is_isolated(tmp_path, refusing_one_customer):
    payloads = [created_event(f"c{i}", 1_000_000) for i in range(9)]
    payloads.insert(3, closed_event("c-bad", 2_000_000))
    errors = tmp_path / "errors.ndjson"

    with pytest.raises(CommandError, match="1 record"):
        backfill(write(tmp_path / "dump.ndjson", payloads), "--errors", errors, "--workers", 2)

    (reported,) = [json.loads(line) for line in errors.read_text().splitlines()]
    assert reported["line"] == 4
    assert reported["reason"].startswith("failed to apply")
    assert Customer.objects.count() == 9
    assert InboundEvent.objects.count() == 9


def test_a_dry_run_with_appliers_counts_what_one_process_counts_and_writes_nothing(dumps):
    one_stdout, _ = backfill(dumps["shuffled"], "--dry-run", "--workers", 1)

    stdout, _ = backfill(dumps["shuffled"], "--dry-run", "--workers", 2)

    assert summary(stdout) | {"elapsed": "", "events/s": ""} == summary(one_stdout) | {
        "elapsed": "",
        "events/s": "",
    }
    assert not InboundEvent.objects.exists()
    assert not Customer.objects.exists()


def test_ctrl_c_counts_every_committed_batch_and_a_rerun_completes_the_archive(dumps, monkeypatch):
    from backfill.management.commands import backfill as command

    backfill(dumps["shuffled"], "--workers", 1)
    complete = archive()
    empty_the_archive()
    counted = command._Report.add
    calls = []

    def interrupted_at_the_third_result(report, result):
        calls.append(result)
        if len(calls) == 3:
            raise KeyboardInterrupt
        counted(report, result)

    monkeypatch.setattr(command._Report, "add", interrupted_at_the_third_result)
    out = io.StringIO()
    with pytest.raises(CommandError, match="interrupted") as raised:
        call_command(
            "backfill",
            dumps["shuffled"],
            "--batch-size",
            "3",
            "--workers",
            "2",
            "--no-progress",
            stdout=out,
        )

    assert raised.value.returncode == 130
    committed = InboundEvent.objects.count()
    assert 0 < committed < len(dumps["shuffled"].read_text().splitlines())
    # Every committed batch is counted, but for the one whose counting was
    # interrupted. (The inbox keeps unknown event types too.)
    shown = summary(out.getvalue())
    uncounted = calls[2].new_events + calls[2].skipped
    stored = int(shown["new events archived"]) + int(shown["unknown event types (kept, skipped)"])
    assert stored + uncounted == committed
    monkeypatch.undo()
    backfill(dumps["shuffled"], "--workers", 2)
    assert archive() == complete


def test_a_database_error_in_an_applier_stops_the_run_with_a_clear_message(tmp_path):
    dump = write(tmp_path / "dump.ndjson", [created_event(f"c{i}", 1_000_000) for i in range(4)])
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE webhooks_customererasure RENAME TO customererasure_gone")
    try:
        with pytest.raises(CommandError, match=r"stopped by a database error \(ProgrammingError"):
            backfill(dump, "--workers", 2)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE customererasure_gone RENAME TO webhooks_customererasure")


def test_fewer_than_one_worker_is_refused(tmp_path):
    dump = write(tmp_path / "dump.ndjson", [created_event("c1", 1_000_000)])

    with pytest.raises(CommandError, match="--workers must be at least 1"):
        backfill(dump, "--workers", 0)


def test_the_bar_counts_every_byte_of_the_files_with_appliers(tmp_path, monkeypatch):
    dump = write(tmp_path / "a.ndjson", [created_event(f"a{i}", i + 1) for i in range(40)])
    total = dump.stat().st_size

    bar = last_bar(run_on_a_terminal(monkeypatch, str(dump), "--workers", "2", "--batch-size", "3"))

    assert bar.lstrip().startswith("100%")
    assert f"{size(total)}/{size(total)}" in bar
    assert "40 events" in bar


def renamed_adviser_dump(path, order: list[int]):
    """Customers served by one adviser who is renamed half-way (by time)."""
    payloads = []
    for n in range(40):
        event = closed_event(f"c{n}", 1_000_000 + n * 1000)
        event["assignee"]["firstName"] = "Robert" if n >= 20 else "Bob"
        payloads.append(event)
    return write(path, [payloads[i] for i in order])


def test_an_adviser_renamed_mid_dump_ends_with_the_newest_name_however_the_work_is_split(
    tmp_path,
):
    backfill(renamed_adviser_dump(tmp_path / "sorted.ndjson", list(range(40))), "--workers", 1)
    by_one = archive()
    empty_the_archive()
    shuffled = list(range(40))
    random.Random(3).shuffle(shuffled)

    stdout, _ = backfill(
        renamed_adviser_dump(tmp_path / "shuffled.ndjson", shuffled),
        "--workers",
        3,
        "--batch-size",
        4,
    )

    assert archive() == by_one
    assert by_one["advisers"] == [("adviser-1", "Robert", "Holmes", "bob.holmes@closer.app", False)]
    assert summary(stdout)["errors"] == "0"


@pytest.fixture
def one_deadlock():
    """The first customer insert of the run fails as a lost deadlock
    (SQLSTATE 40P01), as PostgreSQL aborts one of two appliers' batches;
    the sequence counts outside any transaction, so the retry succeeds."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE SEQUENCE test_deadlock_once")
    deadlock_once = """
        IF nextval('test_deadlock_once') = 1 THEN
            RAISE EXCEPTION 'deadlock detected' USING ERRCODE = 'deadlock_detected';
        END IF;"""
    with before_insert("conversations_customer", deadlock_once):
        yield
    with connection.cursor() as cursor:
        cursor.execute("DROP SEQUENCE test_deadlock_once")


def test_a_batch_that_loses_a_deadlock_is_applied_again(tmp_path, one_deadlock):
    payloads = [created_event(f"c{i}", 1_000_000) for i in range(6)]

    stdout, _ = backfill(write(tmp_path / "dump.ndjson", payloads), "--workers", 2)

    assert summary(stdout)["batches applied again after a deadlock"] == "1"
    assert summary(stdout)["errors"] == "0"
    assert Customer.objects.count() == 6
    assert InboundEvent.objects.count() == 6
