"""An access record says what was read, never what it said."""

import pytest
from django.db import connection
from django.urls import reverse

from audit.models import AccessRecord
from tests.api_support import superuser, token_client
from tests.audit.conftest import OTHER_WORD, SECRET_WORD

pytestmark = pytest.mark.django_db


def text_columns_of_the_audit_tables() -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT table_name, column_name FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name LIKE 'audit\\_%%'
            AND data_type IN ('text', 'character varying', 'json', 'jsonb', 'inet')
            """
        )
        return cursor.fetchall()


def rows_holding(word: str) -> list[tuple[str, str]]:
    found = []
    with connection.cursor() as cursor:
        for table, column in text_columns_of_the_audit_tables():
            cursor.execute(
                f'SELECT 1 FROM "{table}" WHERE "{column}"::text ILIKE %s',  # noqa: S608
                [f"%{word}%"],
            )
            found += [(table, column)] * len(cursor.fetchall())
    return found


def test_no_record_of_any_kind_holds_a_word_of_the_transcripts(admin_client, jon, ann):
    api = token_client(superuser())
    admin_client.get(reverse("admin:conversations_conversation_change", args=[jon.pk]))
    admin_client.get(reverse("admin:conversations_conversation_changelist"))
    b"".join(
        admin_client.post(
            reverse("admin:conversations_conversation_changelist"),
            {"action": "export_messages_csv", "_selected_action": [jon.pk, ann.pk]},
        ).streaming_content
    )
    api.get(reverse("v1:conversation-list"))
    api.get(reverse("v1:conversation-detail", args=[jon.pk]))
    api.get(reverse("v1:message-list"))
    b"".join(api.get(reverse("v1:export-conversations-ndjson")).streaming_content)
    b"".join(api.get(reverse("v1:export-messages-csv")).streaming_content)

    assert AccessRecord.objects.count() == 8
    assert ("audit_accessrecord", "query") in text_columns_of_the_audit_tables()
    assert rows_holding(SECRET_WORD) == []
    assert rows_holding(OTHER_WORD) == []
