"""manage.py backfill's progress bar (bytes of the files read, a total, a
percentage and an ETA), error lines above it, the line and column of bad
JSON, and a warning with a non-zero exit for an input with nothing in it."""

import contextlib
import gzip
import io
import json
import re
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from tqdm import tqdm

from conversations.models import Customer
from tests.backfill_helpers import backfill, write
from tests.builders import created_event

pytestmark = pytest.mark.django_db


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run_on_a_terminal(monkeypatch, *args: str) -> str:
    """Run the command with a terminal as stderr; return what the terminal shows."""
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with contextlib.suppress(CommandError):  # the bar is what is tested
        call_command("backfill", *args, stdout=io.StringIO(), stderr=terminal)
    return terminal.getvalue()


def last_bar(shown: str) -> str:
    """The bar as last drawn (tqdm redraws it after a carriage return)."""
    return [part for part in re.split(r"[\r\n]", shown) if part.strip()][-1]


def size(count: int) -> str:
    return tqdm.format_sizeof(count, "B", 1024)


def test_the_bar_counts_bytes_of_the_files_against_their_total_with_an_eta(tmp_path, monkeypatch):
    first = write(tmp_path / "a.ndjson", [created_event(f"a{i}", i + 1) for i in range(30)])
    second = write(tmp_path / "b.json", [created_event(f"b{i}", i + 1) for i in range(30)], "array")
    total = first.stat().st_size + second.stat().st_size

    bar = last_bar(run_on_a_terminal(monkeypatch, str(tmp_path)))

    assert bar.lstrip().startswith("100%")
    assert f"{size(total)}/{size(total)}" in bar
    assert re.search(r"\[\d\d:\d\d<\d\d:\d\d", bar), bar  # elapsed<remaining
    assert "60 events" in bar


def test_a_gzip_files_bar_counts_its_compressed_bytes(tmp_path, monkeypatch):
    dump = write(tmp_path / "a.ndjson.gz", [created_event(f"a{i}", i + 1) for i in range(200)])
    compressed = dump.stat().st_size
    assert compressed < len(gzip.decompress(dump.read_bytes()))

    bar = last_bar(run_on_a_terminal(monkeypatch, str(dump)))

    assert f"{size(compressed)}/{size(compressed)}" in bar


def test_standard_inputs_bar_has_no_total_but_a_rate(tmp_path, monkeypatch):
    data = write(tmp_path / "a.ndjson", [created_event("a", 1)]).read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))

    bar = last_bar(run_on_a_terminal(monkeypatch, "-"))

    assert "%" not in bar
    assert "B/s" in bar
    assert "1 events" in bar


def test_error_lines_are_printed_above_the_bar_not_into_it(tmp_path, monkeypatch):
    dump = tmp_path / "a.ndjson"
    dump.write_text(json.dumps(created_event("a", 1)) + "\n" + "not json\n")

    shown = run_on_a_terminal(monkeypatch, str(dump))

    # Each error line starts a line of its own: the bar was cleared before it.
    assert re.search(rf"(^|[\r\n]){re.escape(str(dump))} line 2, column 1: invalid JSON", shown)


def test_a_cut_off_ndjson_line_is_reported_at_its_end_not_in_column_1(tmp_path):
    dump = tmp_path / "a.ndjson"
    dump.write_text(json.dumps(created_event("a", 1)) + "\n" + '{"eventType": "X", \n')

    with pytest.raises(CommandError):
        backfill(dump, "--errors", tmp_path / "errors.ndjson")

    (reported,) = [json.loads(line) for line in (tmp_path / "errors.ndjson").open()]
    assert (reported["line"], reported["column"]) == (2, 20)  # after the last character


def test_an_ndjson_error_names_its_column_within_the_line(tmp_path):
    dump = tmp_path / "a.ndjson"
    dump.write_text(json.dumps(created_event("a", 1)) + '\n{"eventType": "X", "n": 1, oops}\n')

    with pytest.raises(CommandError):
        backfill(dump, "--errors", tmp_path / "errors.ndjson")

    (reported,) = [json.loads(line) for line in (tmp_path / "errors.ndjson").open()]
    assert (reported["line"], reported["column"]) == (2, 28)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_an_array_error_names_the_line_and_column_where_it_is(tmp_path, suffix):
    text = '{"events": [\n  {"eventType": "X"},\n  {"eventType": "Y", "n": oops}\n]}\n'
    dump = tmp_path / f"a.json{suffix}"
    dump.write_bytes(gzip.compress(text.encode()) if suffix else text.encode())

    with pytest.raises(CommandError):
        backfill(dump, "--errors", tmp_path / "errors.ndjson")

    (reported,) = [json.loads(line) for line in (tmp_path / "errors.ndjson").open()]
    assert (reported["index"], reported["line"]) == (1, 3)
    # yajl stops on the bad token: "oops" starts in column 27.
    assert reported["column"] in range(27, 32)


def test_an_array_error_far_into_a_large_file_is_placed_exactly(tmp_path):
    events = [created_event(f"c{i}", i + 1) for i in range(3000)]
    text = json.dumps(events, indent=1)
    cut = text.rindex("}")
    text = text[:cut] + ", oops" + text[cut:]  # inside the last event
    dump = tmp_path / "a.json"
    dump.write_text(text)
    line = text[: text.index("oops")].count("\n") + 1

    with pytest.raises(CommandError):
        backfill(dump, "--errors", tmp_path / "errors.ndjson")

    (reported,) = [json.loads(line) for line in (tmp_path / "errors.ndjson").open()]
    assert (reported["index"], reported["line"]) == (2999, line)


def test_a_bad_first_ndjson_line_is_one_error_and_the_lines_after_it_are_read(tmp_path):
    dump = tmp_path / "a.ndjson"
    dump.write_text('{"eventType": "X", oops}\n' + json.dumps(created_event("b", 1)) + "\n")

    with pytest.raises(CommandError, match="1 record"):
        backfill(dump, "--errors", tmp_path / "errors.ndjson")

    (reported,) = [json.loads(line) for line in (tmp_path / "errors.ndjson").open()]
    assert (reported["line"], reported["column"]) == (1, 20)
    assert Customer.objects.get().closer_id == "b"


def test_an_empty_directory_is_a_warning_and_a_failure(tmp_path):
    (tmp_path / "dumps").mkdir()
    (tmp_path / "dumps" / "notes.txt").write_text("not a dump")
    err = io.StringIO()

    with pytest.raises(CommandError, match="nothing to backfill"):
        call_command("backfill", str(tmp_path / "dumps"), stdout=io.StringIO(), stderr=err)

    assert "warning" in err.getvalue()
    assert "no dump files" in err.getvalue()


@pytest.mark.parametrize("content", [b"", b"\n  \n"])
def test_an_empty_file_is_a_warning_and_a_failure(tmp_path, content):
    dump = tmp_path / "a.ndjson"
    dump.write_bytes(content)
    err = io.StringIO()

    with pytest.raises(CommandError, match="nothing to backfill"):
        call_command("backfill", str(dump), stdout=io.StringIO(), stderr=err)

    assert "warning: the input holds no events" in err.getvalue()
    assert Customer.objects.count() == 0


def test_an_empty_file_beside_a_full_one_is_no_failure(tmp_path):
    write(tmp_path / "a.ndjson", [])
    write(tmp_path / "b.ndjson", [created_event("b", 1)])

    backfill(tmp_path)

    assert Customer.objects.count() == 1
