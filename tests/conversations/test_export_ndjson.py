"""GET /api/v1/export/conversations.ndjson: every conversation, one JSON line each."""

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.exports import stream_conversations_ndjson
from conversations.models import Conversation
from tests.api_support import (
    closed_conversation,
    open_conversation,
    superuser_token_client,  # noqa: F401 (the `client` fixture)
)

pytestmark = pytest.mark.django_db

URL = "/api/v1/export/conversations.ndjson"


@pytest.fixture
def archive():
    jon = closed_conversation(
        "cust-jon",
        "2024-05-01T10:00:00",
        opened_at="2024-05-01T09:00:00",
        texts=("Zażółć gęślą jaźń", 'quote " and\nnewline', "emoji 🚀"),
        first_name="Jon",
    )
    arya = closed_conversation(
        "cust-arya", "2024-06-01T10:00:00", texts=("Refund please",), adviser_is_bot=True
    )
    sansa = open_conversation("cust-sansa", "2024-07-01T10:00:00")
    return [jon.pk, arya.pk, sansa.pk]


def export_lines(client, **params):
    response = client.get(URL, params)
    assert response.status_code == 200
    assert response.streaming
    body = b"".join(response.streaming_content).decode()
    assert body == "" or body.endswith("\n")
    return [json.loads(line) for line in body.splitlines()]


def test_each_line_is_the_conversation_detail_with_its_transcript(client, archive):
    lines = export_lines(client)

    assert [line["id"] for line in lines] == sorted(archive)
    for line in lines:
        assert line == client.get(f"/api/v1/conversations/{line['id']}/").json()


def test_transcripts_keep_unicode_quotes_and_newlines(client, archive):
    jon = export_lines(client, customer="cust-jon")[0]

    assert [m["text"] for m in jon["messages"]] == [
        "Zażółć gęślą jaźń",
        'quote " and\nnewline',
        "emoji 🚀",
    ]


def test_timestamps_are_iso_8601_utc(client, archive):
    jon = export_lines(client, customer="cust-jon")[0]

    assert jon["opened_at"] == "2024-05-01T09:00:00Z"
    assert jon["closed_at"] == "2024-05-01T10:00:00Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", jon["updated_at"])
    assert jon["messages"][0]["sent_at"] == "2024-05-01T09:59:57Z"


@pytest.mark.parametrize(
    "params",
    [
        {"customer": "cust-arya"},
        {"status": "open"},
        {"bot_adviser": "true"},
        {"opened_after": "2024-05-15T00:00:00Z"},
        {"q": "refund"},
        {"updated_since": "2000-01-01T00:00:00Z"},
    ],
)
def test_filters_select_the_same_conversations_as_the_list(client, archive, params):
    listed = {row["id"] for row in client.get("/api/v1/conversations/", params).json()["results"]}

    assert {line["id"] for line in export_lines(client, **params)} == listed


def test_no_match_is_an_empty_body(client, archive):
    assert export_lines(client, customer="nobody") == []


def test_the_download_is_named_after_the_export(client, archive):
    response = client.get(URL)

    assert response["Content-Type"] == "application/x-ndjson"
    assert re.fullmatch(
        r'attachment; filename="conversations-\d{8}T\d{6}Z\.ndjson"',
        response["Content-Disposition"],
    )


def test_a_bad_filter_is_a_json_400_before_any_streaming(client, archive):
    response = client.get(URL, {"opened_after": "soon"}, HTTP_ACCEPT="application/x-ndjson")

    assert response.status_code == 400
    assert not response.streaming
    assert response["Content-Type"] == "application/json"
    assert "opened_after" in response.json()  # the parameter as sent


def test_two_queries_read_any_number_of_conversations():
    def queries_to_export():
        with CaptureQueriesContext(connection) as captured:
            b"".join(stream_conversations_ndjson(Conversation.objects.all()))
        return len(captured)

    closed_conversation("c-1", "2024-05-01T10:00:00")
    few = queries_to_export()
    for day in range(2, 22):
        closed_conversation(f"c-{day}", f"2024-05-{day:02}T10:00:00")

    assert queries_to_export() == few
