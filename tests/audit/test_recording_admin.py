"""Every admin page that shows transcript text, and every admin export, is recorded."""

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AccessAction, AccessRecord
from tests.audit.conftest import SECRET_WORD
from tests.closerarchive.test_login_behind_proxy import CLIENT_SETTINGS as CLIENT_ADDRESS_SETTINGS
from tests.inbox import stored
from tests.settings_from_env import settings_from_env

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:conversations_conversation_changelist")


def change_page(conversation) -> str:
    return reverse("admin:conversations_conversation_change", args=[conversation.pk])


def only_record() -> AccessRecord:
    [record] = AccessRecord.objects.all()
    return record


def conversation_ids(record: AccessRecord) -> list[int]:
    return sorted(record.conversations.values_list("conversation_id", flat=True))


def export(client, action: str, conversations, query: str = ""):
    return client.post(
        f"{CHANGELIST}{query}",
        {"action": action, "_selected_action": [c.pk for c in conversations]},
    )


def test_opening_a_conversation_records_who_opened_which(admin_client, jon):
    response = admin_client.get(change_page(jon), REMOTE_ADDR="192.0.2.7")

    assert response.status_code == 200
    record = only_record()
    assert (record.action, record.username) == (AccessAction.ADMIN_CONVERSATION_VIEWED, "admin")
    assert conversation_ids(record) == [jon.pk]
    assert record.path == change_page(jon)
    assert record.client_ip == "192.0.2.7"


def test_behind_a_proxy_the_client_address_is_the_one_the_login_lockout_reads(
    admin_client, jon, monkeypatch, settings
):
    made = settings_from_env(monkeypatch, TRUSTED_PROXY_COUNT="1")
    for name in CLIENT_ADDRESS_SETTINGS:
        if name in made:
            setattr(settings, name, made[name])

    # The client sent an X-Forwarded-For of its own; the proxy appended the address it saw.
    admin_client.get(
        change_page(jon), REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.4"
    )

    assert only_record().client_ip == "198.51.100.4"


def test_a_missing_conversation_records_nothing(admin_client, jon):
    response = admin_client.get(reverse("admin:conversations_conversation_change", args=[10**9]))

    assert response.status_code == 302
    assert not AccessRecord.objects.exists()


def test_the_changelist_records_its_query_and_the_number_of_previews_shown(admin_client, jon, ann):
    admin_client.get(CHANGELIST, {"status__exact": "closed"})

    record = only_record()
    assert record.action == AccessAction.ADMIN_CONVERSATION_LIST
    assert (record.query, record.row_count) == ("status__exact=closed", 2)


def test_the_ndjson_export_action_records_the_selection_and_the_rows_sent(admin_client, jon, ann):
    response = export(admin_client, "export_ndjson", [jon, ann], "?status__exact=closed")
    b"".join(response.streaming_content)

    record = only_record()
    assert record.action == AccessAction.ADMIN_EXPORT_NDJSON
    assert conversation_ids(record) == sorted([jon.pk, ann.pk])
    assert record.query == "status__exact=closed"
    assert (record.row_count, record.completed) == (2, True)


def test_the_csv_export_action_records_the_messages_sent(admin_client, jon):
    response = export(admin_client, "export_messages_csv", [jon])
    b"".join(response.streaming_content)

    record = only_record()
    assert record.action == AccessAction.ADMIN_EXPORT_CSV
    assert conversation_ids(record) == [jon.pk]
    assert (record.row_count, record.completed) == (2, True)


def test_the_excel_csv_export_action_is_recorded_like_the_csv_one(admin_client, jon):
    response = export(admin_client, "export_messages_csv_for_excel", [jon])
    b"".join(response.streaming_content)

    record = only_record()
    assert record.action == AccessAction.ADMIN_EXPORT_CSV
    assert (record.row_count, record.completed) == (2, True)


@pytest.mark.parametrize("kind", ["text", "html"])
def test_downloading_a_transcript_records_who_downloaded_which(admin_client, jon, kind):
    url = reverse(f"admin:conversations_conversation_transcript_{kind}", args=[jon.pk])
    assert admin_client.get(url).status_code == 200

    record = only_record()
    assert record.action == AccessAction.ADMIN_TRANSCRIPT_DOWNLOADED
    assert conversation_ids(record) == [jon.pk]


def test_a_customers_page_with_their_latest_previews_is_recorded(admin_client, jon):
    page = reverse("admin:conversations_customer_change", args=[jon.customer_id])

    admin_client.get(page)

    record = only_record()
    assert (record.action, record.path) == (AccessAction.ADMIN_CONVERSATION_LIST, page)


def test_opening_an_inbound_event_is_recorded(admin_client):
    event = stored({"eventType": "ThreadClosedEvent", "messageHistory": []})

    response = admin_client.get(reverse("admin:webhooks_inboundevent_change", args=[event.pk]))

    assert response.status_code == 200
    record = only_record()
    assert (record.action, record.row_count) == (AccessAction.INBOUND_EVENT_VIEWED, 1)


def test_a_conversation_page_that_cannot_be_recorded_is_not_shown(admin_user, jon, refusing_audit):
    browser = Client(raise_request_exception=False)
    browser.force_login(admin_user)

    response = browser.get(change_page(jon))

    assert response.status_code == 500
    assert SECRET_WORD.encode() not in response.content
