"""``metrics_read.read_rows`` (the metrics step's precompiled read) returns
exactly the rows of the ORM query it replaces, ``store._read``."""

import pytest

from conversations.insights.metrics_read import read_rows
from conversations.insights.store import ARCHIVE_TABLES, _read, rebuild_all
from conversations.models import Conversation
from tests.api_support import closed_conversation, open_conversation

pytestmark = pytest.mark.django_db


def test_the_precompiled_read_gives_the_orm_rows():
    closed_conversation("c1", "2026-03-02T10:05:00", opened_at="2026-03-02T10:00:00")
    closed_conversation(
        "c2",
        "2026-03-03T12:30:00",
        opened_at="2026-03-03T12:00:00",
        adviser_id="bot-1",
        adviser_is_bot=True,
        closed_type="unsolved",
    )
    open_conversation("c3", "2026-03-04T09:00:00")
    rebuild_all()  # so the metrics' opened_at column is read too
    ids = sorted(Conversation.objects.values_list("pk", flat=True))
    missing = max(ids) + 1000
    for chosen in (ids, ids[:1], [*ids, missing], [missing]):
        assert read_rows(chosen, ARCHIVE_TABLES) == list(_read(chosen, ARCHIVE_TABLES))
    assert any(row[-1] for row in read_rows(ids, ARCHIVE_TABLES))  # a bot's message is read
    assert any(row[8] is None for row in read_rows(ids, ARCHIVE_TABLES))  # and a silent one
