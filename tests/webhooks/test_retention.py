"""Retention of the inbox and the whole policy: inbound bodies pruned, events
older than the conversation period never applied (webhook, reprocess and
backfill paths), `manage.py apply_retention` and its beat task."""

import time
from datetime import timedelta
from io import StringIO

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import AccessAction, AccessRecord
from closerarchive.celery import app as celery_app
from conversations.models import Conversation, ConversationDeletion, Message
from tests.backfill_helpers import backfill, summary, write
from tests.builders import closed_event, created_event
from tests.inbox import stored
from tests.settings_from_env import settings_from_env
from webhooks.models import EventSource, EventStatus, InboundEvent
from webhooks.processing import process_inbound_event
from webhooks.retention import apply_retention
from webhooks.tasks import apply_retention as apply_retention_task

pytestmark = pytest.mark.django_db

DAY_MS = 86_400_000


def days_ago_ms(days: float) -> int:
    return int(time.time() * 1000 - days * DAY_MS)


@pytest.fixture
def keep_30_days(settings):
    settings.RETENTION_CONVERSATIONS_DAYS = 30
    settings.RETENTION_CONVERSATIONS_ACTION = "delete"


def processed_days_ago(event, days):
    InboundEvent.objects.filter(pk=event.pk).update(
        status=EventStatus.PROCESSED, processed_at=timezone.now() - timedelta(days=days)
    )


def run(*args):
    out = StringIO()
    call_command("apply_retention", *args, stdout=out)
    return dict(line.split(": ", 1) for line in out.getvalue().splitlines() if ": " in line)


# --- settings ---------------------------------------------------------------


def test_retention_is_off_by_default(monkeypatch):
    made = settings_from_env(monkeypatch)

    assert made["RETENTION_CONVERSATIONS_DAYS"] is None
    assert made["RETENTION_INBOUND_BODIES_DAYS"] is None


def test_retention_settings_are_read_from_the_environment(monkeypatch):
    made = settings_from_env(
        monkeypatch,
        RETENTION_CONVERSATIONS_DAYS="365",
        RETENTION_CONVERSATIONS_ACTION="Anonymise",
        RETENTION_INBOUND_BODIES_DAYS="30",
        RETENTION_BATCH_SIZE="500",
    )

    assert made["RETENTION_CONVERSATIONS_DAYS"] == 365
    assert made["RETENTION_CONVERSATIONS_ACTION"] == "anonymise"
    assert (made["RETENTION_INBOUND_BODIES_DAYS"], made["RETENTION_BATCH_SIZE"]) == (30, 500)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RETENTION_CONVERSATIONS_DAYS", "0"),
        ("RETENTION_CONVERSATIONS_DAYS", "a year"),
        ("RETENTION_CONVERSATIONS_ACTION", "erase"),
        ("RETENTION_INBOUND_BODIES_DAYS", "-1"),
        ("RETENTION_BATCH_SIZE", "0"),
    ],
)
def test_a_bad_retention_setting_stops_the_start(monkeypatch, name, value):
    with pytest.raises(ImproperlyConfigured, match=name):
        settings_from_env(monkeypatch, **{name: value})


def test_an_endpoint_cannot_keep_bodies_for_zero_days(make_endpoint):
    with pytest.raises(IntegrityError):
        make_endpoint(inbound_body_retention_days=0)


# --- inbound bodies ---------------------------------------------------------


def test_bodies_processed_before_the_period_are_pruned_and_the_row_kept(settings):
    settings.RETENTION_INBOUND_BODIES_DAYS = 30
    old = stored(closed_event("c1", 2_000_000), headers={"X-Forwarded-For": "1.2.3.4"})
    recent = stored(closed_event("c2", 2_000_000))
    processed_days_ago(old, 31)
    processed_days_ago(recent, 29)

    report = apply_retention()

    old.refresh_from_db()
    assert (bytes(old.raw_body), old.headers, old.remote_addr) == (b"", {}, None)
    assert old.status == EventStatus.PROCESSED and old.body_pruned_at is not None
    assert bytes(InboundEvent.objects.get(pk=recent.pk).raw_body) != b""
    assert report.counts["inbound bodies pruned"] == 1


def test_pruning_keeps_the_dedupe_key_and_the_customer_it_was_filed_under(settings):
    settings.RETENTION_INBOUND_BODIES_DAYS = 30
    event = stored(closed_event("c1", 2_000_000), customer_closer_id="c1")
    processed_days_ago(event, 31)
    key = event.dedupe_key

    apply_retention()

    event.refresh_from_db()
    assert (event.dedupe_key, event.customer_closer_id) == (key, "c1")


def test_events_not_done_keep_their_bodies_however_old(settings):
    settings.RETENTION_INBOUND_BODIES_DAYS = 1
    for status in (EventStatus.RECEIVED, EventStatus.FAILED, EventStatus.DEAD):
        event = stored(closed_event("c1", 2_000_000), status=status)
        InboundEvent.objects.filter(pk=event.pk).update(
            received_at=timezone.now() - timedelta(days=100)
        )

    apply_retention()

    assert not InboundEvent.objects.filter(raw_body=b"").exists()


def test_an_endpoints_own_body_retention_overrides_the_setting(settings, make_endpoint):
    settings.RETENTION_INBOUND_BODIES_DAYS = 30
    short, _ = make_endpoint("short", inbound_body_retention_days=5)
    usual, _ = make_endpoint("usual")
    for endpoint in (short, usual):
        processed_days_ago(stored(closed_event("c1", 2_000_000), endpoint=endpoint), 10)

    apply_retention()

    pruned = InboundEvent.objects.filter(body_pruned_at__isnull=False)
    assert list(pruned.values_list("endpoint__name", flat=True)) == ["short"]


def test_an_endpoints_own_body_retention_applies_without_the_setting(make_endpoint):
    endpoint, _ = make_endpoint(inbound_body_retention_days=5)
    processed_days_ago(stored(closed_event("c1", 2_000_000), endpoint=endpoint), 10)
    processed_days_ago(stored(closed_event("c2", 2_000_000)), 1000)  # backfilled: no setting

    apply_retention()

    assert InboundEvent.objects.filter(body_pruned_at__isnull=False).count() == 1


def test_backfilled_events_follow_the_setting(settings):
    settings.RETENTION_INBOUND_BODIES_DAYS = 30
    event = stored(closed_event("c1", 2_000_000))
    InboundEvent.objects.filter(pk=event.pk).update(source=EventSource.BACKFILL)
    processed_days_ago(event, 31)

    apply_retention()

    event.refresh_from_db()
    assert event.body_pruned_at is not None


def test_bodies_are_pruned_a_batch_per_transaction(settings):
    settings.RETENTION_INBOUND_BODIES_DAYS = 30
    for n in range(5):
        processed_days_ago(stored(closed_event(f"c{n}", 2_000_000)), 31)

    with CaptureQueriesContext(connection) as captured:
        apply_retention(batch_size=2)

    prunes = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith('UPDATE "webhooks_inboundevent"')
    ]
    assert [sql.split(" IN ", 1)[1].count(",") + 1 for sql in prunes] == [2, 2, 1]
    assert not InboundEvent.objects.exclude(raw_body=b"").exists()


def test_a_pruned_event_redelivered_is_answered_200_and_creates_nothing(
    keep_30_days, settings, deliver
):
    settings.RETENTION_INBOUND_BODIES_DAYS = 30
    old = closed_event("c1", days_ago_ms(40))
    settings.RETENTION_CONVERSATIONS_DAYS = None  # archived while the policy allowed it
    deliver(old)
    settings.RETENTION_CONVERSATIONS_DAYS = 30
    InboundEvent.objects.update(processed_at=timezone.now() - timedelta(days=31))
    apply_retention()
    assert (Conversation.objects.count(), ConversationDeletion.objects.count()) == (0, 1)

    response = deliver(old)

    assert response.status_code == 200
    assert InboundEvent.objects.count() == 1
    assert Conversation.objects.count() == 0


# --- events older than the conversation period -----------------------------


def test_an_old_event_by_webhook_is_expired_not_applied(keep_30_days, deliver):
    response = deliver(closed_event("c1", days_ago_ms(31)))

    assert response.status_code == 202
    event = InboundEvent.objects.get()
    assert event.status == EventStatus.EXPIRED
    assert (bytes(event.raw_body), event.headers) == (b"", {})
    assert Conversation.objects.count() == 0


def test_a_retry_whose_body_differs_does_not_bring_back_a_deleted_conversation(
    keep_30_days, settings, deliver
):
    closed_ms = days_ago_ms(31)
    settings.RETENTION_CONVERSATIONS_DAYS = None
    deliver(closed_event("c1", closed_ms))
    settings.RETENTION_CONVERSATIONS_DAYS = 30
    apply_retention()

    deliver(closed_event("c1", closed_ms, closed_type="timeout"))  # another body, another key

    assert Conversation.objects.count() == 0
    assert InboundEvent.objects.filter(status=EventStatus.EXPIRED).count() == 1


def test_recent_events_are_archived_as_usual(keep_30_days, deliver):
    deliver(created_event("c1", days_ago_ms(29)))
    deliver(closed_event("c1", days_ago_ms(28)))

    assert Conversation.objects.get().message_count == 2
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {EventStatus.PROCESSED}


def test_without_a_conversation_period_old_events_are_archived(settings, deliver):
    settings.RETENTION_CONVERSATIONS_DAYS = None

    deliver(closed_event("c1", days_ago_ms(3000)))

    assert Conversation.objects.count() == 1


def test_old_events_in_a_processing_batch_are_expired_and_the_rest_applied(keep_30_days):
    old = stored(closed_event("old", days_ago_ms(31)))
    new = stored(closed_event("new", days_ago_ms(1)))

    process_inbound_event(event_id=old.pk)  # takes `new` into its batch

    statuses = dict(InboundEvent.objects.values_list("pk", "status"))
    assert statuses == {old.pk: EventStatus.EXPIRED, new.pk: EventStatus.PROCESSED}
    assert list(Conversation.objects.values_list("customer__closer_id", flat=True)) == ["new"]
    assert bytes(InboundEvent.objects.get(pk=old.pk).raw_body) == b""


def test_reprocessing_an_old_dead_event_expires_it(
    keep_30_days, django_capture_on_commit_callbacks
):
    dead = stored(closed_event("c1", days_ago_ms(31)), status=EventStatus.DEAD, attempts=5)

    with django_capture_on_commit_callbacks(execute=True):
        call_command("reprocess_events", "--status", "dead", stdout=StringIO())

    dead.refresh_from_db()
    assert dead.status == EventStatus.EXPIRED
    assert Conversation.objects.count() == 0


def test_a_backfill_of_an_old_dump_archives_only_what_retention_keeps(keep_30_days, tmp_path):
    dump = write(
        tmp_path / "dump.ndjson",
        [
            created_event("old", days_ago_ms(41)),
            closed_event("old", days_ago_ms(40)),
            closed_event("new", days_ago_ms(2)),
        ],
    )

    out, _ = backfill(dump)

    assert summary(out)["older than the retention period (not archived)"] == "2"
    assert list(Conversation.objects.values_list("customer__closer_id", flat=True)) == ["new"]
    expired = InboundEvent.objects.filter(status=EventStatus.EXPIRED)
    assert expired.count() == 2 and not expired.exclude(raw_body=b"").exists()

    out, _ = backfill(dump)  # again: all duplicates now, still nothing old archived
    assert summary(out)["duplicates skipped"] == "3"
    assert Conversation.objects.count() == 1


def test_a_dry_run_backfill_counts_the_old_events(keep_30_days, tmp_path):
    dump = write(tmp_path / "dump.ndjson", [closed_event("old", days_ago_ms(40))])

    out, _ = backfill(dump, "--dry-run")

    assert summary(out)["older than the retention period (would not be archived)"] == "1"


# --- apply_retention, the command and the beat task ---------------------------


@pytest.fixture
def old_and_new(settings, deliver):
    """c1: one conversation closed 40 days ago, one closed 2 days ago."""
    settings.RETENTION_CONVERSATIONS_DAYS = None
    deliver(created_event("c1", days_ago_ms(40) - 60_000))
    deliver(closed_event("c1", days_ago_ms(40)))
    deliver(created_event("c1", days_ago_ms(2) - 60_000))
    deliver(closed_event("c1", days_ago_ms(2)))
    InboundEvent.objects.update(processed_at=timezone.now() - timedelta(days=31))
    assert Conversation.objects.count() == 2


def test_the_command_deletes_and_prunes_and_says_how_much(settings, old_and_new):
    settings.RETENTION_CONVERSATIONS_DAYS = 30
    settings.RETENTION_INBOUND_BODIES_DAYS = 30

    said = run()

    assert said["conversations deleted"] == "1"
    assert said["messages deleted"] == "2"
    assert said["customers deleted"] == "0"
    assert said["conversation events deleted"] == "2"
    assert said["inbound bodies pruned"] == "4"
    assert Conversation.objects.count() == 1


def test_the_command_anonymises_when_told_to(settings, old_and_new):
    settings.RETENTION_CONVERSATIONS_DAYS = 30
    settings.RETENTION_CONVERSATIONS_ACTION = "anonymise"

    said = run()

    assert said["conversations anonymised"] == "1"
    assert Conversation.objects.count() == 2
    assert Message.objects.filter(text="[removed by retention]").count() == 2


def test_a_dry_run_says_what_would_be_done_and_changes_nothing(settings, old_and_new):
    settings.RETENTION_CONVERSATIONS_DAYS = 30
    settings.RETENTION_INBOUND_BODIES_DAYS = 30
    bodies = sorted(bytes(b) for b in InboundEvent.objects.values_list("raw_body", flat=True))

    said = run("--dry-run")

    assert said["conversations deleted (would be)"] == "1"
    assert said["messages deleted (would be)"] == "2"
    assert said["inbound bodies pruned (would be)"] == "4"
    assert Conversation.objects.count() == 2
    assert not ConversationDeletion.objects.filter(reason="retention").exists()
    assert sorted(bytes(b) for b in InboundEvent.objects.values_list("raw_body", flat=True)) == (
        bodies
    )
    assert run()["conversations deleted"] == "1"  # and then does it


def test_with_retention_off_the_command_changes_nothing_and_says_so(old_and_new):
    out = StringIO()
    call_command("apply_retention", stdout=out)
    said = run()

    assert "policy: conversations: kept for ever" in out.getvalue()
    assert "policy: inbound bodies: kept for ever" in out.getvalue()
    assert "conversations deleted" not in said
    assert said["inbound bodies pruned"] == "0"
    assert Conversation.objects.count() == 2
    assert not InboundEvent.objects.filter(raw_body=b"").exists()


def test_the_command_refuses_a_batch_size_below_one():
    with pytest.raises(CommandError, match="at least 1"):
        run("--batch-size", "0")


def test_the_beat_schedule_runs_retention_daily():
    entry = settings.CELERY_BEAT_SCHEDULE["apply-retention"]

    assert celery_app.tasks[entry["task"]].name == apply_retention_task.name
    assert isinstance(entry["schedule"], crontab)
    assert entry["schedule"].hour == {3} and entry["schedule"].minute == {30}


def test_the_beat_task_applies_the_same_retention(settings, old_and_new):
    settings.RETENTION_CONVERSATIONS_DAYS = 30

    counts = apply_retention_task.apply().get()

    assert counts["conversations deleted"] == 1
    assert Conversation.objects.count() == 1


def test_the_access_log_is_pruned_with_it(settings, admin_user):
    settings.AUDIT_RETENTION_DAYS = 30
    now = timezone.now()
    for days_ago in (31, 29):
        AccessRecord.objects.create(
            user=admin_user,
            username=admin_user.username,
            action=AccessAction.API_LIST,
            at=now - timedelta(days=days_ago),
        )

    dry = apply_retention(dry_run=True, now=now)
    assert dry.counts["access records deleted"] == 1
    assert AccessRecord.objects.count() == 2

    report = apply_retention(now=now)
    assert report.counts["access records deleted"] == 1
    assert AccessRecord.objects.count() == 1


def test_staff_set_an_endpoints_body_retention_in_the_admin(admin_client, make_endpoint):
    endpoint, _ = make_endpoint()

    admin_client.post(
        reverse("admin:webhooks_webhookendpoint_change", args=[endpoint.pk]),
        {
            "name": endpoint.name,
            "is_active": "on",
            "allowed_api_keys": "[]",
            "signature_header": endpoint.signature_header,
            "inbound_body_retention_days": "7",
        },
    )

    endpoint.refresh_from_db()
    assert endpoint.inbound_body_retention_days == 7
