"""Every time the API writes is ISO 8601 with its offset (UTC, ``Z``): the
lists, the details, both exports and the inbound events."""

import csv
import io
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.api_support import (
    closed_conversation,
    open_conversation,
    superuser_token_client,  # noqa: F401 (the `client` fixture)
)
from tests.webhook_client import post

pytestmark = pytest.mark.django_db

# A field holding a time: `sent_at`, `opened_at`, `updated_at`, ...
TIME_FIELD = re.compile(r"_at$")


@pytest.fixture
def archive(client, make_endpoint, created_example, django_capture_on_commit_callbacks):
    closed_conversation("cust-jon", "2024-05-01T10:00:00.123", opened_at="2024-05-01T09:00:00")
    open_conversation("cust-arya", "2024-06-01T10:00:00")
    with django_capture_on_commit_callbacks(execute=True):
        post(client, make_endpoint()[1], created_example)


def times_in(value: Any, key: str = "") -> list[str | None]:
    """Every value of a ``…_at`` field, however deep."""
    if isinstance(value, dict):
        return [time for k, v in value.items() for time in times_in(v, k)]
    if isinstance(value, list):
        return [time for item in value for time in times_in(item, key)]
    return [value] if TIME_FIELD.search(key) else []


def assert_iso_with_offset(times: list[str | None]) -> None:
    written = [time for time in times if time is not None]
    assert written, "no times to check"
    for time in written:
        parsed = datetime.fromisoformat(time)
        assert parsed.utcoffset() is not None, time
        assert parsed.tzinfo is not None and parsed.astimezone(UTC) == parsed, time
        assert time.endswith("Z"), time


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/conversations/",
        "/api/v1/messages/",
        "/api/v1/customers/",
        "/api/v1/advisers/",
        "/api/v1/inbound-events/",
    ],
)
def test_lists_and_details_write_times_in_iso_8601_with_offset(client, archive, url):
    listing = client.get(url).json()["results"]
    details = [client.get(f"{url}{row['id']}/").json() for row in listing]

    assert_iso_with_offset(times_in(listing) + times_in(details))


def test_the_ndjson_export_writes_times_in_iso_8601_with_offset(client, archive):
    response = client.get("/api/v1/export/conversations.ndjson")
    lines = b"".join(response.streaming_content).decode().splitlines()

    assert_iso_with_offset(times_in([json.loads(line) for line in lines]))


def test_the_csv_export_writes_times_in_iso_8601_with_offset(client, archive):
    response = client.get("/api/v1/export/messages.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))

    assert_iso_with_offset(times_in(rows))
