"""erase_customer: GDPR erasure, its audit record, and no resurrection."""

import json
import logging
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from conversations.models import Conversation, ConversationEvent, Customer, Message
from tests.builders import closed_event, created_event
from tests.webhook_client import post
from webhooks.models import CustomerErasure, EventStatus, InboundEvent, customer_key
from webhooks.processing import process_inbound_event

pytestmark = pytest.mark.django_db

EMAIL = "Jon.Snow@Winterfell.com"
T0 = 1_700_000_000_000


@pytest.fixture
def token(make_endpoint):
    return make_endpoint()[1]


@pytest.fixture
def deliver(client, token, django_capture_on_commit_callbacks):
    """POST and process (tasks run after commit, in-process)."""

    def send(payload, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return post(client, token, payload, **kwargs)

    return send


@pytest.fixture
def archived(deliver):
    """Jon: two conversations; Arya: one."""
    deliver(created_event("jon", T0, email=EMAIL))
    deliver(closed_event("jon", T0 + 1000, email=EMAIL))
    deliver(closed_event("jon", T0 + 5000, email=EMAIL))
    deliver(closed_event("arya", T0 + 1000, email="arya@winterfell.com", first_name="Arya"))
    assert Conversation.objects.count() == 3


def erase(identifier: str) -> str:
    out = StringIO()
    call_command("erase_customer", identifier, "--by", "dpo@example.com", stdout=out)
    return out.getvalue()


def test_erasing_by_id_removes_the_customer_their_conversations_messages_and_ledger(archived):
    erase("jon")

    assert not Customer.objects.filter(closer_id="jon").exists()
    assert not Conversation.objects.filter(customer__closer_id="jon").exists()
    assert not ConversationEvent.objects.filter(customer__closer_id="jon").exists()
    assert Message.objects.count() == 2  # Arya's


def test_erasing_blanks_the_stored_webhooks_but_keeps_their_dedupe_keys(archived):
    keys = set(InboundEvent.objects.values_list("dedupe_key", flat=True))

    erase("jon")

    erased = InboundEvent.objects.filter(status=EventStatus.ERASED)
    assert erased.count() == 3
    for event in erased:
        assert (bytes(event.raw_body), event.headers, event.remote_addr) == (b"", {}, None)
        assert event.customer_closer_id == ""
    assert set(InboundEvent.objects.values_list("dedupe_key", flat=True)) == keys


def test_erasing_by_email_ignores_case_and_leaves_other_customers_alone(archived):
    erase(EMAIL.upper())

    assert list(Customer.objects.values_list("closer_id", flat=True)) == ["arya"]
    assert b"arya" in bytes(InboundEvent.objects.exclude(status=EventStatus.ERASED).get().raw_body)


def test_erasure_prints_and_keeps_an_audit_record_with_counts_and_no_personal_data(
    archived, caplog
):
    with caplog.at_level(logging.WARNING, logger="closerarchive.audit"):
        output = erase(EMAIL)

    record = CustomerErasure.objects.get()
    assert record.customer_key == customer_key("jon")
    assert record.erased_by == "dpo@example.com"
    assert record.counts == {
        "customers": 1,
        "conversations": 2,
        "messages": 4,
        "conversation_events": 3,
        "inbound_events": 3,
    }
    assert "conversations=2, messages=4" in output
    assert "conversations=2, messages=4" in caplog.text
    for text in (output, caplog.text, str(record)):
        assert "jon" not in text.lower().replace(record.customer_key, "")


def test_erasing_an_unknown_customer_is_an_error_and_changes_nothing(archived):
    with pytest.raises(CommandError, match="no customer"):
        erase("nobody@example.com")
    assert Customer.objects.count() == 2
    assert not CustomerErasure.objects.exists()


def test_a_redelivery_of_an_erased_event_is_a_duplicate_and_resurrects_nothing(archived, deliver):
    erase("jon")

    response = deliver(closed_event("jon", T0 + 1000, email=EMAIL))

    assert response.status_code == 200
    assert not Customer.objects.filter(closer_id="jon").exists()


def test_an_old_event_arriving_after_the_erasure_is_erased_not_archived(archived, deliver):
    erase("jon")

    # Not byte-identical to anything stored (a new dedupe key): it is stored,
    # then processing recognises an event from before the erasure.
    late = created_event("jon", T0 + 3000, email=EMAIL)
    response = deliver(late)

    assert response.status_code == 202
    event = InboundEvent.objects.get(pk=response.json()["id"])
    assert event.status == EventStatus.ERASED
    assert bytes(event.raw_body) == b""
    assert not Customer.objects.filter(closer_id="jon").exists()


def test_reprocessing_after_an_erasure_brings_nothing_back(
    archived, django_capture_on_commit_callbacks
):
    InboundEvent.objects.filter(customer_closer_id="jon").update(status=EventStatus.DEAD)
    erase("jon")

    with django_capture_on_commit_callbacks(execute=True):
        for status in ("dead", "failed", "rejected"):
            call_command("reprocess_events", "--status", status, stdout=StringIO())

    assert not Customer.objects.filter(closer_id="jon").exists()
    assert InboundEvent.objects.filter(status=EventStatus.ERASED).count() == 3


def test_a_customer_who_comes_back_after_the_erasure_is_archived_anew(archived, deliver):
    erase("jon")
    # The erasure was "now"; an event from the future is new data.
    record = CustomerErasure.objects.get()
    later = int(record.erased_at.timestamp() * 1000) + 60_000

    deliver(closed_event("jon", later, email=EMAIL))

    customer = Customer.objects.get(closer_id="jon")
    assert Conversation.objects.filter(customer=customer).count() == 1


def test_an_unparsed_stored_body_naming_the_customer_is_blanked_too(archived, client, token):
    body = b'{"customer": {"email": "' + EMAIL.encode() + b'"}'  # broken JSON
    assert post(client, token, body).status_code == 400  # stored as rejected, unparsed
    rejected = InboundEvent.objects.get(status=EventStatus.REJECTED)

    erase("jon")

    rejected.refresh_from_db()
    assert rejected.status == EventStatus.ERASED
    assert bytes(rejected.raw_body) == b""


def test_an_erased_customers_old_event_in_a_processing_batch_is_erased_too(
    archived, client, token, settings
):
    erase("jon")
    settings.EVENT_BATCH_SIZE = 10
    # Stored but not yet processed (no on-commit execution here).
    old = post(client, token, created_event("jon", T0 + 3000, email=EMAIL)).json()["id"]
    other = post(client, token, closed_event("sansa", T0 + 1000)).json()["id"]

    process_inbound_event(event_id=other)  # applies both, as one batch

    assert InboundEvent.objects.get(pk=old).status == EventStatus.ERASED
    assert bytes(InboundEvent.objects.get(pk=old).raw_body) == b""
    assert InboundEvent.objects.get(pk=other).status == EventStatus.PROCESSED
    assert not Customer.objects.filter(closer_id="jon").exists()


def test_backfilling_an_old_dump_after_the_erasure_brings_nothing_back(archived, tmp_path):
    dump = tmp_path / "old.ndjson"
    old_events = [closed_event("jon", T0 + 9000, email=EMAIL), created_event("jon", T0 + 8000)]
    dump.write_text("\n".join(json.dumps(e) for e in old_events) + "\n")
    erase("jon")

    out = StringIO()
    call_command("backfill", str(dump), "--no-progress", stdout=out)

    assert "events of erased customers (not archived): 2" in out.getvalue()
    assert not Customer.objects.filter(closer_id="jon").exists()
    erased = InboundEvent.objects.filter(source="backfill")
    assert set(erased.values_list("status", flat=True)) == {EventStatus.ERASED}
    assert all(bytes(body) == b"" for body in erased.values_list("raw_body", flat=True))


# --- Erasure finds every stored copy, however the id arrived ---------------------


def test_erasing_by_id_blanks_events_whose_customer_id_arrived_padded(deliver):
    deliver(created_event(" abc ", T0))
    deliver(closed_event(" abc ", T0 + 1000))

    output = erase("abc")

    assert "inbound_events=2" in output
    for event in InboundEvent.objects.all():
        assert event.status == EventStatus.ERASED
        assert bytes(event.raw_body) == b""


def test_erasing_by_id_blanks_padded_events_not_yet_processed(client, token):
    post(client, token, closed_event(" abc ", T0 + 1000))  # stored, never processed

    erase("abc")

    event = InboundEvent.objects.get()
    assert (event.status, bytes(event.raw_body)) == (EventStatus.ERASED, b"")


def test_erasing_by_email_blanks_events_whose_customer_id_arrived_padded(deliver):
    deliver(closed_event(" abc ", T0 + 1000, email=EMAIL))

    erase(EMAIL)

    event = InboundEvent.objects.get()
    assert (event.status, bytes(event.raw_body)) == (EventStatus.ERASED, b"")
    assert not Customer.objects.exists()


def test_erasing_by_id_blanks_backfilled_events_whose_customer_id_was_padded(tmp_path):
    dump = tmp_path / "padded.ndjson"
    old_events = [created_event(" abc ", T0), closed_event(" abc ", T0 + 1000, email=EMAIL)]
    dump.write_text("\n".join(json.dumps(e) for e in old_events) + "\n")
    call_command("backfill", str(dump), "--no-progress", stdout=StringIO())

    output = erase("abc")

    assert "inbound_events=2" in output
    for event in InboundEvent.objects.all():
        assert (event.source, event.status, bytes(event.raw_body)) == (
            "backfill",
            EventStatus.ERASED,
            b"",
        )


def test_erasing_by_email_blanks_backfilled_events(tmp_path):
    dump = tmp_path / "dump.ndjson"
    dump.write_text(json.dumps(closed_event("abc", T0 + 1000, email=EMAIL)) + "\n")
    call_command("backfill", str(dump), "--no-progress", stdout=StringIO())

    erase(EMAIL.lower())

    event = InboundEvent.objects.get()
    assert (event.status, bytes(event.raw_body)) == (EventStatus.ERASED, b"")


def test_a_numeric_customer_id_is_erased_by_its_digits(deliver):
    payload = closed_event("x", T0 + 1000)
    payload["customer"]["id"] = 12345
    deliver(payload)

    erase("12345")

    event = InboundEvent.objects.get()
    assert (event.status, bytes(event.raw_body)) == (EventStatus.ERASED, b"")
