"""The metrics step in SQL (``insights.in_sql``, PostgreSQL's path) stores
what the definition (``metrics.metrics_of``, by
``store.write_metrics_in_python``) stores, on generated conversations."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversations.insights import in_sql, store
from conversations.models import (
    Adviser,
    Conversation,
    ConversationMetrics,
    Customer,
    InsightsPendingHour,
    Message,
)

pytestmark = pytest.mark.django_db

OPENED = datetime(2026, 3, 1, 9, 59, 58, tzinfo=UTC)  # a minute before an hour's turn
ADVISERS = {"human-1": False, "human-2": False, "bot-1": True, "bot-2": True}
AUTHORS = [*ADVISERS, "customer", "never-stored", ""]
ROLES = ["CUSTOMER", "ADVISER", "SYSTEM"]

# Offsets from the opening: before it (an earlier chat's lines), ties, and
# sub-millisecond times (half a millisecond included: the rounding).
offsets = st.one_of(
    st.integers(min_value=-3, max_value=6).map(lambda n: timedelta(seconds=n)),
    st.integers(min_value=-4000, max_value=4000).map(lambda n: timedelta(microseconds=n * 250)),
)
messages = st.lists(st.tuples(st.sampled_from(ROLES), st.sampled_from(AUTHORS), offsets))
conversations = st.lists(
    st.fixed_dictionaries(
        {
            "opened": st.integers(min_value=0, max_value=3).map(lambda n: timedelta(seconds=n)),
            "closed": st.none() | offsets,
            "assignee": st.none() | st.sampled_from(list(ADVISERS)),
            "messages": messages,
            # Metrics stored before, counted in another hour (a re-paired row).
            "stale_metrics": st.booleans(),
        }
    ),
    max_size=6,
)


def build(generated: list[dict]) -> list[int]:
    """The conversations in the archive's tables; their ids and one that is gone."""
    advisers = {
        closer_id: Adviser.objects.create(closer_id=closer_id, is_bot=is_bot)
        for closer_id, is_bot in ADVISERS.items()
    }
    customer = Customer.objects.create(closer_id="customer")
    ids = []
    for spec in generated:
        opened = OPENED + spec["opened"]
        closed = None if spec["closed"] is None else opened + abs(spec["closed"])
        conversation = Conversation.objects.create(
            customer=customer,
            assignee=advisers.get(spec["assignee"]),
            status="open" if closed is None else "closed",
            closed_type="" if closed is None else "solved",
            opened_at=opened,
            closed_at=closed,
        )
        Message.objects.bulk_create(
            Message(
                conversation=conversation,
                author_role=role,
                author_closer_id=author,
                sent_at=opened + offset,
                fingerprint=str(n),
            )
            for n, (role, author, offset) in enumerate(spec["messages"])
        )
        if spec["stale_metrics"]:
            ConversationMetrics.objects.create(
                conversation=conversation,
                opened_at=opened - timedelta(days=3),
                status="open",
                handling="none",
            )
        ids.append(conversation.pk)
    return [*ids, max(ids, default=0) + 1_000_000]


def stored_by(write, ids: list[int]) -> tuple[list[tuple], list[datetime]]:
    """What ``write(ids)`` stores: every metrics row and the pending hours;
    then rolled back."""
    fields = [field.attname for field in ConversationMetrics._meta.concrete_fields]
    with transaction.atomic():
        write(ids)
        state = (
            list(ConversationMetrics.objects.order_by("pk").values_list(*fields)),
            sorted(set(InsightsPendingHour.objects.values_list("hour", flat=True))),
        )
        transaction.set_rollback(True)
    return state


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(generated=conversations)
def test_the_sql_step_stores_what_the_definition_stores(generated):
    assert connection.vendor == "postgresql"
    with transaction.atomic():
        ids = build(generated)
        assert stored_by(in_sql.write_metrics, ids) == stored_by(store.write_metrics_in_python, ids)
        transaction.set_rollback(True)


def test_the_archive_s_own_tables_take_the_sql_step_on_postgresql(monkeypatch):
    ids = build(
        [
            {
                "opened": timedelta(0),
                "closed": None,
                "assignee": None,
                "messages": [],
                "stale_metrics": False,
            }
        ]
    )
    taken = []
    monkeypatch.setattr(in_sql, "write_metrics", taken.append)

    store.write_metrics(ids)

    assert taken == [sorted(ids)]
