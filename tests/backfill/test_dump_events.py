"""manage.py dump_events: the archive as Closer events that backfill back to itself."""

import gzip
import io
import json

import pytest
from django.core.management import call_command

from conversations.models import Conversation
from tests.backfill_helpers import archive, backfill, empty_the_archive, generated_events, write
from tests.builders import closed_event, created_event
from tests.conftest import fixture_json

pytestmark = pytest.mark.django_db


def dump_events(*args: str) -> str:
    out = io.StringIO()
    call_command("dump_events", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_backfill_then_dump_then_backfill_into_an_empty_archive_gives_the_same_archive(tmp_path):
    backfill(write(tmp_path / "original.ndjson", generated_events(duplicates=0.2, shuffle=True)))
    original = archive()
    dumped = tmp_path / "dumped.ndjson"
    call_command("dump_events", "--output", str(dumped), stderr=io.StringIO())
    empty_the_archive()

    backfill(dumped)

    assert archive() == original


def test_each_event_keeps_its_own_visitor_context_through_the_round_trip(tmp_path):
    created = created_event("c1", 1_000_000, back_office_data=[{"key": "page", "value": "/a"}])
    closed = closed_event("c1", 2_000_000, back_office_data=[{"key": "page", "value": "/b"}])
    backfill(write(tmp_path / "dump.ndjson", [created, closed]))

    events = [json.loads(line) for line in dump_events().splitlines()]

    assert [e["customer"]["backOfficeData"] for e in events] == [
        [{"key": "page", "value": "/a"}],
        [{"key": "page", "value": "/b"}],
    ]


def test_one_created_per_conversation_that_has_one_and_one_closed_per_closed_conversation(
    tmp_path,
):
    backfill(
        write(
            tmp_path / "dump.ndjson",
            [
                created_event("c1", 1_000_000),
                closed_event("c1", 2_000_000),  # complete
                closed_event("c1", 4_000_000),  # created event missing
                created_event("c1", 5_000_000),  # still open
            ],
        )
    )

    events = [json.loads(line) for line in dump_events().splitlines()]

    assert sorted((e["eventType"], e["timestamp"]) for e in events) == [
        ("ThreadClosedEvent", 2_000_000),
        ("ThreadClosedEvent", 4_000_000),
        ("ThreadCreatedEvent", 1_000_000),
        ("ThreadCreatedEvent", 5_000_000),
    ]


def test_events_have_closers_payload_shapes(created_example, closed_example, tmp_path):
    backfill(write(tmp_path / "dump.ndjson", [created_example, closed_example]))

    created, closed = (json.loads(line) for line in dump_events().splitlines())

    assert set(created) == {"customer", "timestamp", "eventType"}
    assert set(created["customer"]) == {
        "id",
        "apiKey",
        "firstName",
        "lastName",
        "randomName",
        "email",
        "phone",
        "backOfficeData",
    }
    assert set(closed) == {
        "customer",
        "timestamp",
        "closedType",
        "assignee",
        "messageHistory",
        "eventType",
    }
    assert closed["assignee"] == fixture_json("conversation.closed.json")["assignee"]
    assert closed["messageHistory"][0] == {
        "author": {
            "id": "00000000-0000-0000-0000-000000000000",
            "role": "CUSTOMER",
            "email": "jon.snow@winterfell.com",
            "phone": "+48123456789",
        },
        "message": "Hello",
        "timestamp": 1560177613051,
    }


def test_an_explicit_conversation_id_is_written_back(tmp_path):
    closed = closed_event("c1", 2_000_000)
    closed["threadId"] = "t-1"
    backfill(write(tmp_path / "dump.ndjson", [closed]))

    (event,) = (json.loads(line) for line in dump_events().splitlines())

    assert event["threadId"] == "t-1"


def test_output_to_a_gz_file_is_compressed(tmp_path):
    backfill(write(tmp_path / "dump.ndjson", [created_event("c1", 1_000_000)]))
    path = tmp_path / "out.ndjson.gz"

    call_command("dump_events", "--output", str(path), stderr=io.StringIO())

    (line,) = gzip.decompress(path.read_bytes()).decode().splitlines()
    assert json.loads(line)["eventType"] == "ThreadCreatedEvent"


def test_an_empty_archive_dumps_nothing():
    assert dump_events() == ""
    assert Conversation.objects.count() == 0
