"""GET /api/v1/export/messages.csv: one row per message, with its people."""

import csv
import io
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.exports import MESSAGE_CSV_COLUMNS
from conversations.models import Message
from tests.api_support import (
    closed_conversation,
    open_conversation,
    superuser_token_client,  # noqa: F401 (the `client` fixture)
)

pytestmark = pytest.mark.django_db

URL = "/api/v1/export/messages.csv"


@pytest.fixture
def archive():
    closed_conversation(
        "cust-jon",
        "2024-05-01T10:00:00",
        texts=('comma, "quotes"', "multi\nline\r\ntext", "Zażółć 🚀"),
        adviser_id="adv-bob",
        first_name="Jon",
        last_name="Snow",
        email="jon@winterfell.com",
        phone="+48111",
    )
    closed_conversation(
        "cust-anon", "2024-06-01T10:00:00", texts=("hi",), first_name="", last_name=""
    )
    open_conversation("cust-open", "2024-07-01T10:00:00")


def export_rows(client, **params):
    response = client.get(URL, params)
    assert response.status_code == 200
    assert response.streaming
    text = b"".join(response.streaming_content).decode()
    reader = csv.DictReader(io.StringIO(text, newline=""))
    assert reader.fieldnames == MESSAGE_CSV_COLUMNS
    return list(reader)


def test_every_message_is_a_row_that_matches_the_archive(client, archive):
    rows = export_rows(client)

    expected = Message.objects.order_by("conversation_id", "sent_at", "id")
    assert [int(row["message_id"]) for row in rows] == [m.pk for m in expected]
    for row, stored in zip(rows, expected, strict=True):
        assert int(row["conversation_id"]) == stored.conversation_id
        assert row["text"] == stored.text
        assert row["author_role"] == stored.author_role
        assert row["author_id"] == stored.author_closer_id
        assert row["sent_at"] == stored.sent_at.isoformat().replace("+00:00", "Z")


def test_texts_with_commas_quotes_newlines_and_unicode_survive(client, archive):
    texts = [row["text"] for row in export_rows(client, customer="cust-jon")]

    assert texts == ['comma, "quotes"', "multi\nline\r\ntext", "Zażółć 🚀"]


def test_rows_carry_the_conversations_customer_and_adviser(client, archive):
    row = export_rows(client, customer="cust-jon")[0]

    assert {key: row[key] for key in MESSAGE_CSV_COLUMNS[8:]} == {
        "customer_id": "cust-jon",
        "customer_name": "Jon Snow",
        "customer_email": "jon@winterfell.com",
        # A leading "+" is quoted (conversations.csv_safety): a spreadsheet
        # would otherwise read a formula, here the number 48111.
        "customer_phone": "'+48111",
        "adviser_id": "adv-bob",
        "adviser_name": "Bob Holmes",
        "adviser_email": "bob.holmes@closer.app",
    }


def test_a_customer_without_a_name_is_shown_by_alias(client, archive):
    row = export_rows(client, customer="cust-anon")[0]

    assert row["customer_name"] == "Frosty Wolf"


def test_filters_apply_as_on_the_conversation_list(client, archive):
    assert {row["customer_id"] for row in export_rows(client, customer="cust-anon")} == {
        "cust-anon"
    }
    assert export_rows(client, status="open") == []
    assert len(export_rows(client, closed_after="2024-05-15T00:00:00Z")) == 1
    assert [row["text"] for row in export_rows(client, q="hi")] == ["hi"]


def test_the_download_is_a_named_utf8_csv(client, archive):
    response = client.get(URL)

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="messages-\d{8}T\d{6}Z\.csv"', response["Content-Disposition"]
    )


def test_a_bad_filter_is_a_json_400(client, archive):
    response = client.get(URL, {"status": "nope"}, HTTP_ACCEPT="text/csv")

    assert response.status_code == 400
    assert list(response.json()) == ["status"]


def test_filters_still_apply_with_query_logging_on(client, archive):
    # DEBUG (or any query logging) wraps cursors in Django's debug wrapper,
    # whose copy() takes no parameters: the filter's must be merged in first.
    with CaptureQueriesContext(connection):
        rows = export_rows(client, customer="cust-anon")

    assert [row["text"] for row in rows] == ["hi"]
