"""admin_speed.date_windows: a search's first ids found newest first in date
windows are exactly the plain query's, in its order."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.urls import reverse

from admin_speed.date_windows import newest_first_ids, table_size_and_range, windowed_ordering
from conversations.admin import ConversationPaginator
from conversations.models import Conversation
from conversations.selectors import search_conversations

pytestmark = pytest.mark.django_db

NEWEST = datetime(2026, 11, 1, tzinfo=UTC)
# By how common they are: "order" in nearly every conversation, "zazalenie" in a few.
WORDS = ["order", "dziekuje", "paczka", "kurier", "reklamacje", "zazalenie"]
SHARES = [0.97, 0.9, 0.5, 0.2, 0.04, 0.01]


@pytest.fixture
def years_of_conversations():
    """600 conversations over four years, most of them in the last one (so
    that the windows widen unevenly), a few sharing an opening time (ties
    the id orders), of 60 customers and 6 advisers, with transcripts drawn
    from WORDS by their SHARES."""
    rng = random.Random(7)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO conversations_adviser
                (closer_id, first_name, last_name, email, is_bot, field_times,
                 created_at, updated_at)
            SELECT 'window-adviser-' || i, (ARRAY['Zofia','Marek','Julia','Adam','Ola','Tom'])[i],
                   'Wąsowska', '', false, '{}', now(), now()
            FROM generate_series(1, 6) AS i
            """
        )
        cursor.execute(
            """
            INSERT INTO conversations_customer
                (closer_id, api_key, first_name, last_name, random_name, email, phone,
                 field_times, created_at, updated_at)
            SELECT 'window-customer-' || i, '', 'Anna', 'Nowak', '',
                   'anna.nowak' || i || '@wp.pl', '', '{}', now(), now()
            FROM generate_series(1, 60) AS i
            """
        )
        cursor.execute(
            "SELECT array_agg(id ORDER BY id) FROM conversations_adviser "
            "WHERE closer_id LIKE 'window-adviser-%%'"
        )
        advisers = cursor.fetchone()[0]
        cursor.execute(
            "SELECT array_agg(id ORDER BY id) FROM conversations_customer "
            "WHERE closer_id LIKE 'window-customer-%%'"
        )
        customers = cursor.fetchone()[0]
        rows = []
        for i in range(600):
            age = rng.random() ** 3 * 4 * 365  # days: most conversations are recent
            opened = NEWEST - timedelta(days=age) if i % 50 else NEWEST - timedelta(days=30)
            words = [w for w, share in zip(WORDS, SHARES, strict=True) if rng.random() < share]
            rows.append(
                (
                    customers[i % 60],
                    None if i % 9 == 0 else advisers[i % 6],
                    opened,
                    " ".join(words or ["hello"]),
                )
            )
        cursor.executemany(
            """
            INSERT INTO conversations_conversation
                (customer_id, assignee_id, closer_id, status, closed_type, opened_at,
                 closed_at, created_event_missing, visitor_context, message_count, preview,
                 transcript_search, created_at, updated_at)
            VALUES (%s, %s, '', 'closed', 'solved', %s, %s, true, '{}', 2, '',
                    to_tsvector('simple', %s), now(), now())
            """,
            [(customer, adviser, opened, opened, text) for customer, adviser, opened, text in rows],
        )


QUERIES = [
    "order",  # nearly everywhere
    "dziękuję",  # nearly everywhere, typed with diacritics
    "reklamację",  # rare
    "zażalenie",  # rarer
    "unicorn",  # nowhere: every window, then the oldest row
    "order -dziękuję",  # negation
    "paczka -kurier",
    '"order dziekuje"',  # phrase
    "kurier or zazalenie",
    "nowak17",  # customer email fragment: customers 17 and 170+ (none)
    "Anna Nowak",  # every customer
    "Zofia",  # adviser name
    "Wąsowska",  # every adviser
]


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("limit", [1, 7, 50, 1001])
def test_windows_find_the_plain_querys_first_ids_in_its_order(years_of_conversations, query, limit):
    searched = search_conversations(query=query).order_by("-opened_at", "-id")
    plain = list(searched.values_list("pk", flat=True)[:limit])
    assert newest_first_ids(searched, field="opened_at", limit=limit) == plain


def test_windows_of_a_filtered_list_are_the_plain_querys(years_of_conversations):
    filtered = Conversation.objects.filter(assignee__isnull=True).order_by("-opened_at", "-id")
    plain = list(filtered.values_list("pk", flat=True)[:1001])
    assert len(plain) > 50
    assert newest_first_ids(filtered, field="opened_at", limit=1001) == plain


def test_the_windows_take_the_tables_date_range_and_size_in_one_query(
    years_of_conversations, django_assert_num_queries
):
    with django_assert_num_queries(1):
        _size, oldest, newest = table_size_and_range(Conversation.objects.all(), "opened_at")
    assert (oldest, newest) == (
        Conversation.objects.earliest("opened_at").opened_at,
        Conversation.objects.latest("opened_at").opened_at,
    )


def test_an_empty_table_has_no_ids():
    assert newest_first_ids(Conversation.objects.all(), field="opened_at", limit=10) == []


@pytest.mark.parametrize(
    ("ordering", "field", "windowed"),
    [
        (None, "opened_at", True),  # the model's ordering: -opened_at, -id
        (("-opened_at", "-id"), "opened_at", True),
        (("opened_at", "id"), "opened_at", False),  # oldest first
        (("-message_count", "-opened_at"), "opened_at", False),
        (("-closed_at",), "closed_at", False),  # nullable: a row without it is in no window
    ],
)
def test_only_lists_ordered_newest_first_by_a_required_date_are_windowed(ordering, field, windowed):
    conversations = Conversation.objects.all()
    if ordering:
        conversations = conversations.order_by(*ordering)
    assert windowed_ordering(conversations, field) is windowed


def test_the_changelists_pages_and_count_are_the_plain_paginators(years_of_conversations):
    """The admin's paginator (windows) against the same paginator with none."""

    class WindowedPaginator(ConversationPaginator):
        window_above = 0  # windows on this small table too

    class PlainPaginator(ConversationPaginator):
        window_field = None

    searched = search_conversations(query="reklamację").order_by("-opened_at", "-id")
    windowed, plain = WindowedPaginator(searched, 5), PlainPaginator(searched, 5)
    assert windowed.count == plain.count
    for number in (1, 2, windowed.num_pages):
        assert list(windowed.page(number).object_list) == list(plain.page(number).object_list)


def test_the_searched_changelist_lists_the_newest_matches(
    years_of_conversations, client, monkeypatch
):
    monkeypatch.setattr(ConversationPaginator, "window_above", 0)
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    response = client.get(reverse("admin:conversations_conversation_changelist"), {"q": "paczka"})
    newest = search_conversations(query="paczka").order_by("-opened_at", "-id")[:50]
    assert [row.pk for row in response.context["cl"].result_list] == [row.pk for row in newest]
