"""Row counts of streamed exports, counted from the bytes as they pass,
however the stream is cut into chunks."""

import csv
import io
import json

from audit.streams import CsvRecords, NdjsonLines

ROWS = [
    ["1", "plain"],
    ["2", 'quoted "word", a comma'],
    ["3", "two\nlines"],
    ["4", '"\n"'],
    ["5", ""],
]


def csv_bytes() -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "text"])
    writer.writerows(ROWS)
    return out.getvalue().encode()


def fed_in_chunks(counter, data: bytes, size: int):
    for start in range(0, len(data), size):
        counter.feed(data[start : start + size])
    return counter.count


def test_csv_records_are_counted_whatever_the_chunk_boundaries():
    data = csv_bytes()

    counts = {fed_in_chunks(CsvRecords(), data, size) for size in range(1, len(data) + 1)}

    assert counts == {len(ROWS)}


def test_a_csv_with_only_its_header_has_no_rows():
    assert fed_in_chunks(CsvRecords(), b"id,text\n", 3) == 0


def test_ndjson_lines_are_counted_with_newlines_inside_strings():
    data = "".join(json.dumps({"text": text}) + "\n" for _, text in ROWS).encode()

    assert fed_in_chunks(NdjsonLines(), data, 7) == len(ROWS)
