"""Every API read that returns transcript text is recorded: who, when, what, how many."""

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AccessAction, AccessRecord
from tests.api_support import (
    superuser,
    superuser_token_client,  # noqa: F401 (the `client` fixture)
    token_client,
)
from tests.audit.conftest import SECRET_WORD
from tests.inbox import stored

pytestmark = pytest.mark.django_db

CONVERSATIONS = reverse("v1:conversation-list")
MESSAGES = reverse("v1:message-list")
NDJSON = reverse("v1:export-conversations-ndjson")
CSV = reverse("v1:export-messages-csv")


def only_record() -> AccessRecord:
    [record] = AccessRecord.objects.all()
    return record


def conversation_ids(record: AccessRecord) -> list[int]:
    return sorted(record.conversations.values_list("conversation_id", flat=True))


def test_a_conversation_detail_read_records_who_what_and_where(client, jon):
    response = client.get(reverse("v1:conversation-detail", args=[jon.pk]), REMOTE_ADDR="10.1.2.3")

    assert response.status_code == 200
    record = only_record()
    assert (record.action, record.username, record.user.username) == (
        AccessAction.API_DETAIL,
        "root",
        "root",
    )
    assert conversation_ids(record) == [jon.pk]
    assert record.row_count == 1
    assert record.path == f"/api/v1/conversations/{jon.pk}/"
    assert record.client_ip == "10.1.2.3"


def test_a_conversation_list_read_records_its_query_and_row_count(client, jon, ann):
    response = client.get(CONVERSATIONS, {"status": "closed", "page_size": 5})

    assert response.status_code == 200
    record = only_record()
    assert record.action == AccessAction.API_LIST
    assert record.query == "status=closed&page_size=5"
    assert record.row_count == 2
    assert conversation_ids(record) == []


def test_a_message_list_read_is_recorded(client, jon):
    client.get(MESSAGES, {"conversation": jon.pk})

    record = only_record()
    assert (record.action, record.row_count) == (AccessAction.API_LIST, 2)
    assert record.query == f"conversation={jon.pk}"


def test_a_message_detail_read_names_its_conversation(client, jon):
    message = jon.messages.first()

    client.get(reverse("v1:message-detail", args=[message.pk]))

    record = only_record()
    assert record.action == AccessAction.API_DETAIL
    assert conversation_ids(record) == [jon.pk]


def test_the_ndjson_export_is_recorded_before_it_streams_and_counted_when_it_ends(client, jon, ann):
    response = client.get(NDJSON, {"customer": "cust-jon"})

    started = only_record()
    assert (started.action, started.query) == (AccessAction.API_EXPORT_NDJSON, "customer=cust-jon")
    assert (started.row_count, started.completed) == (None, None)
    b"".join(response.streaming_content)  # the test client closes it at the end
    started.refresh_from_db()
    assert (started.row_count, started.completed) == (1, True)


def test_the_csv_export_counts_messages_not_lines(client, jon, ann):
    # Jon's second message holds a newline and quotes inside one CSV field.
    response = client.get(CSV)
    body = b"".join(response.streaming_content)

    record = only_record()
    assert record.action == AccessAction.API_EXPORT_CSV
    assert body.count(b"\n") == 1 + 3 + 1  # header, messages, the newline inside one
    assert (record.row_count, record.completed) == (3, True)


# Committed for real: closing a response, as a server does when the client
# goes away, ends the request and closes its database connection.
@pytest.mark.django_db(transaction=True)
def test_an_export_the_client_stops_reading_is_recorded_as_incomplete(client, jon, ann):
    response = client.get(NDJSON)
    next(iter(response.streaming_content))  # the whole export fits in its first chunk

    response.close()

    record = only_record()
    assert (record.row_count, record.completed) == (2, False)


def test_an_inbound_event_detail_is_recorded(client):
    event = stored({"eventType": "ThreadClosedEvent", "messageHistory": []})

    response = client.get(reverse("v1:inbound-event-detail", args=[event.pk]))

    assert response.status_code == 200
    record = only_record()
    assert record.action == AccessAction.INBOUND_EVENT_VIEWED
    assert record.path == f"/api/v1/inbound-events/{event.pk}/"


def test_reads_without_transcript_text_are_not_recorded(client, jon):
    stored({"eventType": "ThreadClosedEvent"})

    client.get(reverse("v1:inbound-event-list"))
    client.get(reverse("v1:customer-list"))
    client.get(reverse("v1:adviser-list"))

    assert not AccessRecord.objects.exists()


def test_a_refused_read_is_not_recorded(jon):
    from django.contrib.auth.models import User

    nobody = User.objects.create_user("nobody")

    response = token_client(nobody).get(reverse("v1:conversation-detail", args=[jon.pk]))

    assert response.status_code == 403
    assert not AccessRecord.objects.exists()


def test_a_read_that_cannot_be_recorded_does_not_happen(jon, refusing_audit):
    token = token_client(superuser())._credentials["HTTP_AUTHORIZATION"]
    browser = Client(raise_request_exception=False, HTTP_AUTHORIZATION=token)

    response = browser.get(reverse("v1:conversation-detail", args=[jon.pk]))

    assert response.status_code == 500
    assert SECRET_WORD.encode() not in response.content


def test_an_export_that_cannot_be_recorded_does_not_start(jon, refusing_audit):
    token = token_client(superuser())._credentials["HTTP_AUTHORIZATION"]
    browser = Client(raise_request_exception=False, HTTP_AUTHORIZATION=token)

    response = browser.get(NDJSON)

    assert response.status_code == 500
    assert not getattr(response, "streaming", False)
    assert SECRET_WORD.encode() not in response.content
