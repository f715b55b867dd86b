"""erase_customer: GDPR erasure, its audit record, and no resurrection."""

import json
import logging
import re
from io import StringIO
from typing import Any

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from conversations import selectors
from conversations.models import Conversation, ConversationEvent, Customer, Message
from tests.api_support import token_client
from tests.builders import closed_event, created_event, message
from tests.stored_text import database_fingerprint, tables_mentioning
from tests.webhook_client import post
from webhooks.models import CustomerErasure, EventStatus, InboundEvent, customer_key
from webhooks.processing import process_inbound_event

# Erasure ANALYZEs the tables it wrote (see fresh_planner_statistics).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_planner_statistics")]

EMAIL = "Jon.Snow@Winterfell.com"
T0 = 1_700_000_000_000


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
        "messages_in_other_conversations": 0,
        "admin_log_entries": 0,
        "inbound_events": 3,
        "access_log_queries": 0,
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


# --- --dry-run ----------------------------------------------------------------------


def dry_run(identifier: str, *options: str) -> str:
    out = StringIO()
    call_command("erase_customer", identifier, "--dry-run", *options, stdout=out)
    return out.getvalue()


def log_change(user, obj, message: str) -> LogEntry:
    """An admin history entry about ``obj``, as ModelAdmin.log_change writes it."""
    return LogEntry.objects.create(
        user=user,
        content_type=ContentType.objects.get_for_model(obj),
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        action_flag=CHANGE,
        change_message=message,
    )


def test_a_dry_run_changes_no_row_of_any_table(archived, admin_user):
    log_change(admin_user, Customer.objects.get(closer_id="jon"), f"Checked {EMAIL}")
    before = database_fingerprint()  # every table's row count and contents

    output = dry_run(EMAIL)

    assert "dry run: nothing was changed." in output
    assert database_fingerprint() == before
    assert not CustomerErasure.objects.exists()


def test_a_dry_run_prints_by_kind_exactly_what_the_erasure_then_removes(archived):
    output = dry_run(EMAIL)
    would = {kind: int(n) for kind, n in re.findall(r"^  (\w+): (\d+)$", output, re.MULTILINE)}

    erase(EMAIL)

    assert "erasing customer jon would remove:" in output
    assert would == CustomerErasure.objects.get().counts
    assert would["messages"] == 4


def test_a_dry_run_leaves_the_cache_alone(archived, django_capture_on_commit_callbacks):
    closed_types = selectors.cached_closed_types()

    with django_capture_on_commit_callbacks(execute=True):
        dry_run("jon")

    assert cache.get(selectors.CLOSED_TYPES_CACHE_KEY) == closed_types


# --- An e-mail several customers share ------------------------------------------------


@pytest.fixture
def twin(archived, deliver):
    """A second customer with Jon's e-mail (in another case)."""
    deliver(closed_event("jon-2", T0 + 7000, email=EMAIL.lower()))


def test_an_email_of_several_customers_is_refused_without_all_and_changes_nothing(twin):
    before = database_fingerprint()

    with pytest.raises(CommandError) as refused:
        erase(EMAIL)

    assert str(refused.value).startswith(
        f"2 customers have the e-mail {EMAIL!r} (Closer ids: jon, jon-2); nothing was erased."
    )
    assert "--all" in str(refused.value)
    assert database_fingerprint() == before


def test_all_erases_every_customer_with_the_email(twin):
    call_command("erase_customer", EMAIL, "--all", stdout=StringIO())

    assert list(Customer.objects.values_list("closer_id", flat=True)) == ["arya"]
    assert set(CustomerErasure.objects.values_list("customer_key", flat=True)) == {
        customer_key("jon"),
        customer_key("jon-2"),
    }


def test_a_dry_run_of_an_ambiguous_email_is_refused_too(twin):
    with pytest.raises(CommandError, match="2 customers"):
        dry_run(EMAIL)


# --- The admin's history and the cache ------------------------------------------------


def test_the_admins_history_about_the_customer_is_blanked_and_kept(archived, admin_user):
    jon = Customer.objects.get(closer_id="jon")
    about_jon = [
        log_change(admin_user, jon, f"Looked up {EMAIL}"),
        log_change(admin_user, Conversation.objects.filter(customer=jon).first(), "Jon Snow"),
        log_change(admin_user, Message.objects.filter(conversation__customer=jon).first(), "x"),
        log_change(admin_user, InboundEvent.objects.filter(customer_closer_id="jon")[0], "x"),
    ]
    about_arya = log_change(admin_user, Customer.objects.get(closer_id="arya"), "Arya Stark")

    output = erase("jon")

    assert "admin_log_entries=4" in output
    for entry in about_jon:
        kept = LogEntry.objects.get(pk=entry.pk)  # still there: the history shows an action
        assert (kept.object_repr, kept.change_message) == ("(erased)", "")
        assert (kept.user, kept.action_flag, kept.action_time) == (
            entry.user,
            entry.action_flag,
            entry.action_time,
        )
    assert LogEntry.objects.get(pk=about_arya.pk).change_message == "Arya Stark"


def test_erasure_drops_the_admins_cached_filter_choices(
    deliver, django_capture_on_commit_callbacks
):
    deliver(closed_event("jon", T0 + 1000, email=EMAIL, closed_type="refund for Jon Snow"))
    deliver(closed_event("arya", T0 + 2000, email="arya@winterfell.com"))
    assert "refund for Jon Snow" in selectors.cached_closed_types()

    with django_capture_on_commit_callbacks(execute=True):
        erase("jon")

    assert selectors.cached_closed_types() == ["solved"]


def sampled_emails() -> str:
    """The customer e-mails the planner's statistics hold as sample values."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT concat(most_common_vals::text, histogram_bounds::text) FROM pg_stats"
            " WHERE tablename = 'conversations_customer' AND attname = 'email'"
        )
        row = cursor.fetchone()
    return row[0] if row else ""


def test_the_planners_statistics_forget_the_customers_values(
    archived, django_capture_on_commit_callbacks
):
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE conversations_customer")
    assert EMAIL in sampled_emails()

    with django_capture_on_commit_callbacks(execute=True):
        erase("jon")

    assert EMAIL not in sampled_emails()


# --- Events received but never processed, found by e-mail ---------------------------


def test_erasing_by_email_finds_events_received_but_never_processed(client, token):
    # Stored, never processed (no on-commit execution): no customer row exists.
    inside = post(client, token, created_event("ghost", T0, email=EMAIL)).json()["id"]
    # The documented created example: e-mail beside the customer, not inside.
    beside = created_event("ghost", T0 + 500)
    del beside["customer"]["email"]
    beside["email"] = EMAIL.lower()
    beside_id = post(client, token, beside).json()["id"]
    # Another customer's event that merely mentions the address keeps its body.
    mention = closed_event(
        "arya", T0 + 1000, [message("CUSTOMER", f"mail {EMAIL}", T0)], email="arya@x.org"
    )
    other = post(client, token, mention).json()["id"]

    output = erase(EMAIL.upper())

    assert "inbound_events=2" in output
    for event_id in (inside, beside_id):
        event = InboundEvent.objects.get(pk=event_id)
        assert (event.status, bytes(event.raw_body)) == (EventStatus.ERASED, b"")
    assert CustomerErasure.objects.get().customer_key == customer_key("ghost")
    assert InboundEvent.objects.get(pk=other).status == EventStatus.RECEIVED


def test_an_unprocessed_customer_found_by_email_stays_erased_when_processing_runs(
    client, token, django_capture_on_commit_callbacks
):
    post(client, token, created_event("ghost", T0, email=EMAIL))
    erase(EMAIL)

    # A late retry of the same event with a changed body (a new dedupe key).
    with django_capture_on_commit_callbacks(execute=True):
        retry = {**created_event("ghost", T0, email=EMAIL), "retry": 1}
        assert post(client, token, retry).status_code == 202

    assert not Customer.objects.exists()
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {EventStatus.ERASED}


# --- The customer's messages in other customers' conversations ------------------------


def test_their_email_on_a_message_in_another_customers_conversation_is_blanked(archived, deliver):
    visiting = message("CUSTOMER", "Jon, writing from Arya's chat", T0 + 8000)
    visiting["author"].update(email=EMAIL.lower(), phone="+48111222333")
    own = message("CUSTOMER", "Arya's own words", T0 + 8500)
    own["author"].update(email="arya@winterfell.com", phone="+48999")
    deliver(closed_event("arya", T0 + 9000, [visiting, own], email="arya@winterfell.com"))

    output = erase("jon")

    assert "messages_in_other_conversations=1" in output
    visited = Message.objects.get(text="Jon, writing from Arya's chat")
    assert (visited.author_email, visited.author_phone) == ("", "")
    kept = Message.objects.get(text="Arya's own words")
    assert (kept.author_email, kept.author_phone) == ("arya@winterfell.com", "+48999")


# --- Nothing left, and nothing coming back ---------------------------------------------

AEGON = "aegon-42"
AEGON_EMAIL = "Aegon.Targaryenson@Dragonstone.example"
SECRET_WORD = "Dracarysvale"  # in Aegon's transcript and nowhere else
LEFT_BEHIND = (AEGON, AEGON_EMAIL, "Targaryenson", SECRET_WORD, "+48555000111")


def aegon_events() -> list[dict]:
    details: dict[str, Any] = {
        "email": AEGON_EMAIL,
        "first_name": "Aegon",
        "last_name": "Targaryenson",
        "phone": "+48555000111",
        "back_office_data": [{"key": "currentPage", "value": "https://x.example/Targaryenson"}],
    }
    closed = closed_event(
        AEGON,
        T0 + 1000,
        [
            message("CUSTOMER", f"My password hint is {SECRET_WORD}", T0 + 100, author_id=AEGON),
            message("ADVISER", "Noted.", T0 + 200),
        ],
        **details,
    )
    closed["messageHistory"][0]["author"]["email"] = AEGON_EMAIL
    return [created_event(AEGON, T0, **details), closed]


def write_dump(path, events: list[dict]):
    path.write_text("".join(json.dumps(event) + "\n" for event in events))
    return path


def test_after_erasure_nothing_in_any_table_names_the_customer(
    deliver, client, token, tmp_path, admin_user, django_capture_on_commit_callbacks
):
    created, closed = aegon_events()
    deliver(created)
    call_command("backfill", str(write_dump(tmp_path / "d.ndjson", [closed])), "--no-progress")
    post(client, token, {**created, "timestamp": T0 + 5000})  # received, never processed
    post(client, token, json.dumps(closed).encode()[:-20])  # broken JSON: rejected, unparsed
    deliver(closed_event("arya", T0 + 3000, email="arya@winterfell.com", first_name="Arya"))
    log_change(admin_user, Customer.objects.get(closer_id=AEGON), f"Opened {AEGON_EMAIL}")
    token_client(admin_user).get(reverse("v1:conversation-list"), {"customer_email": AEGON_EMAIL})
    assert set(tables_mentioning(*LEFT_BEHIND)) >= {
        "conversations_customer",
        "conversations_message",
        "webhooks_inboundevent",
        "django_admin_log",
        "audit_accessrecord",  # the search above, recorded with its query
    }

    with django_capture_on_commit_callbacks(execute=True):
        erase(AEGON_EMAIL.lower())

    assert tables_mentioning(*LEFT_BEHIND) == {}
    assert Customer.objects.filter(closer_id="arya").exists()


def test_after_erasure_neither_admin_search_nor_the_api_finds_the_customer(deliver, admin_user):
    for event in aegon_events():
        deliver(event)
    api = token_client(admin_user)
    admin = Client()
    admin.force_login(admin_user)
    searches = [
        (admin, reverse("admin:conversations_conversation_changelist"), {"q": SECRET_WORD}),
        (admin, reverse("admin:conversations_customer_changelist"), {"q": "dragonstone"}),
        (api, reverse("v1:conversation-list"), {"q": SECRET_WORD}),
        (api, reverse("v1:customer-list"), {"email": AEGON_EMAIL}),
    ]
    for client, url, query in searches:
        assert "Targaryenson" in client.get(url, query).content.decode()

    erase(AEGON_EMAIL)

    for client, url, query in searches:
        response = client.get(url, query)
        assert response.status_code == 200
        assert "Targaryenson" not in response.content.decode()
    assert api.get(reverse("v1:customer-list"), {"email": AEGON_EMAIL}).json()["results"] == []


def test_a_redelivery_of_their_webhooks_after_erasure_stores_nothing(deliver):
    for event in aegon_events():
        deliver(event)
    erase(AEGON_EMAIL)

    for event in aegon_events():  # the sender retries, byte for byte
        assert deliver(event).status_code == 200
    for number, event in enumerate(aegon_events()):  # and again, as new deliveries
        assert deliver(event, headers={"webhook-id": f"msg_{number}"}).status_code == 202

    assert tables_mentioning(*LEFT_BEHIND) == {}
    assert not Customer.objects.exists()


def test_backfilling_their_old_events_again_after_erasure_stores_nothing(tmp_path):
    dump = write_dump(tmp_path / "old.ndjson", aegon_events())
    call_command("backfill", str(dump), "--no-progress", stdout=StringIO())
    erase(AEGON_EMAIL)

    again = StringIO()
    call_command("backfill", str(dump), "--no-progress", stdout=again)  # the same dump
    edited = [{**event, "exportedBy": "ops"} for event in aegon_events()]  # new dedupe keys
    changed = StringIO()
    call_command(
        "backfill", str(write_dump(tmp_path / "b.ndjson", edited)), "--no-progress", stdout=changed
    )

    assert "events of erased customers (not archived): 2" in changed.getvalue()
    assert tables_mentioning(*LEFT_BEHIND) == {}
    assert not Customer.objects.exists()
