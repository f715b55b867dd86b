"""The access log's own retention: records older than the cutoff are deleted
in batches; a dry run counts them and deletes nothing."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AccessAction, AccessedConversation, AccessRecord
from audit.services import prune_access_records, retention_cutoff

pytestmark = pytest.mark.django_db

CUTOFF = datetime(2025, 1, 1, tzinfo=UTC)


def read_at(at: datetime, *conversation_ids: int) -> AccessRecord:
    record = AccessRecord.objects.create(
        username="reader", action=AccessAction.API_DETAIL, path="/api/v1/", at=at
    )
    for pk in conversation_ids:
        record.conversations.create(conversation_id=pk)
    return record


def test_records_older_than_the_cutoff_are_deleted_and_the_rest_kept():
    read_at(CUTOFF - timedelta(days=400), 1)
    read_at(CUTOFF - timedelta(microseconds=1), 2)
    at_cutoff = read_at(CUTOFF, 3)
    newer = read_at(CUTOFF + timedelta(days=1), 4)

    deleted = prune_access_records(older_than=CUTOFF, batch_size=100, dry_run=False)

    assert deleted == 2
    assert set(AccessRecord.objects.values_list("pk", flat=True)) == {at_cutoff.pk, newer.pk}
    assert set(AccessedConversation.objects.values_list("conversation_id", flat=True)) == {3, 4}


def test_a_dry_run_counts_and_deletes_nothing():
    read_at(CUTOFF - timedelta(days=1), 1)
    read_at(CUTOFF + timedelta(days=1))

    assert prune_access_records(older_than=CUTOFF, batch_size=100, dry_run=True) == 1
    assert AccessRecord.objects.count() == 2
    assert AccessedConversation.objects.count() == 1


def test_pruning_deletes_at_most_a_batch_per_statement():
    for day in range(5):
        read_at(CUTOFF - timedelta(days=day + 1), day)

    with CaptureQueriesContext(connection) as queries:
        deleted = prune_access_records(older_than=CUTOFF, batch_size=2, dry_run=False)

    deletes = [q["sql"] for q in queries if q["sql"].startswith('DELETE FROM "audit_accessrecord"')]
    assert deleted == 5
    assert len(deletes) == 3  # 2 + 2 + 1
    assert not AccessRecord.objects.exists()


def test_a_batch_size_below_one_is_refused():
    with pytest.raises(ValueError, match="batch_size"):
        prune_access_records(older_than=CUTOFF, batch_size=0, dry_run=False)


def test_the_retention_cutoff_is_audit_retention_days_ago(settings):
    settings.AUDIT_RETENTION_DAYS = 30
    now = datetime(2026, 6, 30, tzinfo=UTC)

    assert retention_cutoff(now) == datetime(2026, 5, 31, tzinfo=UTC)
