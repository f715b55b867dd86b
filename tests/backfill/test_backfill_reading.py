"""Reading dumps: formats told from the content, streaming, positions, bad JSON."""

import gzip
import io
import json
import random
from collections.abc import Sequence

import pytest

from backfill.dumps import (
    DumpNotFound,
    Record,
    Unreadable,
    expand_paths,
    read_source,
    read_stream,
)

EVENTS = [{"eventType": "ThreadCreatedEvent", "n": n} for n in range(3)]


def read_bytes(data: bytes) -> list[Record | Unreadable]:
    return list(read_stream(io.BytesIO(data), "dump"))


def payloads(items: list[Record | Unreadable]) -> list[object]:
    return [item.payload for item in items if isinstance(item, Record)]


def ndjson(events: Sequence[object]) -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in events)


@pytest.mark.parametrize(
    "data",
    [
        json.dumps(EVENTS).encode(),
        json.dumps(EVENTS, indent=2).encode(),
        json.dumps({"events": EVENTS}).encode(),
        json.dumps({"exportedAt": "2024-01-01", "events": EVENTS}, indent=2).encode(),
        ndjson(EVENTS),
        b"\n\n  " + ndjson(EVENTS).replace(b"\n", b"\n\n"),
        b"\xef\xbb\xbf" + ndjson(EVENTS),
    ],
    ids=[
        "array",
        "pretty-array",
        "object",
        "pretty-object-with-metadata",
        "ndjson",
        "blanks",
        "bom",
    ],
)
def test_every_format_yields_the_same_events(data):
    assert payloads(read_bytes(data)) == EVENTS
    assert payloads(read_bytes(gzip.compress(data))) == EVENTS


def test_array_records_carry_their_index_and_ndjson_records_their_line():
    array = read_bytes(json.dumps(EVENTS).encode())
    lines = read_bytes(b"\n" + ndjson(EVENTS))

    assert [(r.position.kind, r.position.number) for r in array] == [
        ("index", 0),
        ("index", 1),
        ("index", 2),
    ]
    assert [(r.position.kind, r.position.number) for r in lines] == [
        ("line", 2),
        ("line", 3),
        ("line", 4),
    ]


def test_ndjson_keeps_each_line_as_read_for_the_inbox():
    (record,) = read_bytes(b'{"eventType": "X",  "a": 1}\r\n')

    assert isinstance(record, Record)
    assert record.raw == b'{"eventType": "X",  "a": 1}'


def test_a_bad_ndjson_line_is_reported_with_its_line_and_the_next_lines_are_read():
    data = ndjson(EVENTS[:1]) + b'{"eventType": "broken",\n' + ndjson(EVENTS[1:])

    items = read_bytes(data)

    assert payloads(items) == EVENTS
    (bad,) = [item for item in items if isinstance(item, Unreadable)]
    assert (bad.position.kind, bad.position.number) == ("line", 2)
    assert "invalid JSON" in bad.reason


def test_invalid_json_inside_an_array_keeps_what_came_before_and_stops_the_file():
    data = b'[{"eventType": "a"}, {"eventType": "b"}, {"eventType" "c"}, {"eventType": "d"}]'

    items = read_bytes(data)

    assert payloads(items) == [{"eventType": "a"}, {"eventType": "b"}]
    bad = items[-1]
    assert isinstance(bad, Unreadable)
    assert (bad.position.kind, bad.position.number) == ("index", 2)
    assert "rest of the file skipped" in bad.reason
    assert "\n" not in bad.reason


def test_a_truncated_gzip_file_keeps_what_came_before():
    events = [
        {"eventType": "ThreadCreatedEvent", "n": n, "noise": random.randbytes(40).hex()}
        for n in range(5000)
    ]
    data = gzip.compress(ndjson(events))[:-2000]

    items = read_bytes(data)

    assert 0 < len(payloads(items)) < 5000
    assert payloads(items) == events[: len(payloads(items))]
    assert isinstance(items[-1], Unreadable)
    assert "truncated" in items[-1].reason


def test_an_ndjson_line_longer_than_the_look_ahead_is_still_ndjson():
    big = {"eventType": "ThreadClosedEvent", "text": "x" * 200_000}

    assert payloads(read_bytes(ndjson([big, big]))) == [big, big]


def test_array_numbers_stay_exact_integers_and_floats():
    (record,) = read_bytes(b'[{"timestamp": 1560513840901, "ratio": 0.5}]')

    assert isinstance(record, Record)
    assert record.payload == {"timestamp": 1560513840901, "ratio": 0.5}
    assert type(record.payload["ratio"]) is float


def test_an_empty_dump_has_no_records():
    assert read_bytes(b"") == []
    assert read_bytes(b"  \n") == []


@pytest.mark.parametrize("data", [b"hello", b'"a string"', b"42"])
def test_a_dump_that_is_not_an_array_object_or_ndjson_is_reported(data):
    (item,) = read_bytes(data)

    assert isinstance(item, Unreadable)
    assert "not a JSON array, object or NDJSON" in item.reason


def test_an_object_without_an_events_array_is_reported():
    (item,) = read_bytes(b'{\n  "customer": {},\n  "eventType": "ThreadCreatedEvent"\n}\n')

    assert isinstance(item, Unreadable)
    assert "events array" in item.reason


def test_a_directory_expands_to_its_dump_files_sorted_and_recursively(tmp_path):
    for name in ["b.ndjson", "a.json", "sub/c.jsonl.gz", "notes.txt", "d.json.gz", "e.csv"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")

    sources = expand_paths([str(tmp_path)])

    assert [s.removeprefix(f"{tmp_path}/") for s in sources] == [
        "a.json",
        "b.ndjson",
        "d.json.gz",
        "sub/c.jsonl.gz",
    ]


def test_a_missing_path_is_refused_before_anything_is_read(tmp_path):
    with pytest.raises(DumpNotFound, match="no such file"):
        expand_paths([str(tmp_path / "missing.json")])


def test_gzip_is_told_from_the_content_not_the_name(tmp_path):
    path = tmp_path / "dump.json"
    path.write_bytes(gzip.compress(ndjson(EVENTS)))

    assert payloads(list(read_source(str(path)))) == EVENTS


def test_batches_are_cut_by_events_or_by_messages_whichever_comes_first(tmp_path, monkeypatch):
    from backfill import in_process

    monkeypatch.setattr(in_process, "MAX_BATCH_MESSAGES", 5)
    long_event = {"eventType": "ThreadClosedEvent", "messageHistory": [{}] * 3}
    path = tmp_path / "dump.ndjson"
    path.write_bytes(ndjson([long_event] * 5 + [{"eventType": "ThreadCreatedEvent"}] * 5))

    sizes = [len(batch.events) for batch in in_process.batches([str(path)], size=4)]

    assert sizes == [2, 2, 4, 2]
