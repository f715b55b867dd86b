"""PostgreSQL writes the exports itself; the portable Python path (SQLite)
must give the same values. Both run here, on the same archive."""

import csv
import io
import json

import pytest

from conversations import export_sql, exports
from conversations.models import Adviser, Conversation
from tests.api_support import closed_conversation, open_conversation

pytestmark = pytest.mark.django_db


@pytest.fixture
def archive():
    closed_conversation(
        "c-plain",
        "2024-05-01T10:00:00",
        opened_at="2024-05-01T09:00:00",
        texts=("whole seconds", 'quote " comma , \\ backslash', "Zażółć 🚀\nnew line"),
    )
    closed_conversation(
        "c-fraction",
        "2024-05-02T10:00:00.123",
        texts=("milliseconds",),
        first_name="",
        last_name="",
        adviser_id="adv-nameless",
    )
    closed_conversation(
        "c-nobody",
        "2024-05-03T10:00:00.5",
        first_name="",
        last_name="",
        random_name="",
        email="",
        texts=("only an id",),
    )
    closed_conversation(
        "c-spaces", "2024-05-04T10:00:00", first_name="  Jon\n", last_name="\t", texts=("x",)
    )
    open_conversation("c-open", "2024-05-05T10:00:00")
    # An adviser known only by email.
    Adviser.objects.filter(closer_id="adv-nameless").update(first_name="", last_name="")


def test_the_ndjson_lines_are_the_same_from_postgres_and_from_python(archive):
    conversations = Conversation.objects.all()

    from_sql = [json.loads(line) for line in export_sql.conversation_lines(conversations)]
    from_python = [
        json.loads(line) for line in exports._conversation_lines_in_python(conversations)
    ]

    assert from_sql == from_python
    assert len(from_sql) == 5


def test_the_csv_rows_are_the_same_from_postgres_and_from_python(archive):
    conversations = Conversation.objects.all()

    from_sql = b"".join(export_sql.message_csv(conversations)).decode()
    from_python = "".join(exports._message_rows_in_python(conversations))

    assert list(csv.reader(io.StringIO(from_sql))) == list(csv.reader(io.StringIO(from_python)))
    assert from_sql.splitlines()[0] == ",".join(exports.MESSAGE_CSV_COLUMNS)


@pytest.mark.parametrize("export", ["ndjson", "csv"])
def test_timestamps_have_a_fraction_only_when_there_is_one(archive, export):
    conversations = Conversation.objects.order_by()
    if export == "ndjson":
        lines = [json.loads(line) for line in export_sql.conversation_lines(conversations)]
        sent = {
            line["customer"]["id"]: line["messages"][-1]["sent_at"]
            for line in lines
            if line["messages"]
        }
    else:
        rows = csv.DictReader(io.StringIO(b"".join(export_sql.message_csv(conversations)).decode()))
        sent = {row["customer_id"]: row["sent_at"] for row in rows}

    assert sent["c-plain"] == "2024-05-01T09:59:59Z"
    assert sent["c-fraction"] == "2024-05-02T09:59:59.123000Z"
    assert sent["c-nobody"] == "2024-05-03T09:59:59.500000Z"
