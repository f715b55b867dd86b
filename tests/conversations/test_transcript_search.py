"""conversation.transcript_search follows the transcript on every path that
writes messages: webhooks and the backfill (ORM or COPY), later deliveries of
a longer history, re-pairing by a late created event, and erasure."""

import hashlib

import pytest
from django.db import connection

from conversations import bulk
from conversations.models import Conversation
from conversations.selectors import search_conversations
from conversations.services import IncomingEvent, apply_events
from tests.backfill_helpers import backfill, write
from tests.builders import closed_event, created_event, message
from tests.search_archive import archive_conversation
from webhooks.erasure import erase_customer

pytestmark = pytest.mark.django_db

# The normaliser writes small batches through the ORM and large ones by COPY.
WRITE_PATHS = pytest.mark.parametrize("copy_threshold", [10**9, 1], ids=["orm", "copy"])


def found(query):
    return set(search_conversations(query=query).values_list("pk", flat=True))


def recomputed_documents() -> dict[int, str | None]:
    """Every conversation's document as migration 0006 computes it from the
    stored messages (None without messages)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.id, (
                SELECT to_tsvector(
                    'simple'::regconfig,
                    closer_unaccent(left(string_agg(m.text, ' ' ORDER BY m.sent_at, m.id), 100000))
                )
                FROM conversations_message m WHERE m.conversation_id = c.id
            )::text
            FROM conversations_conversation c
            """
        )
        return dict(cursor.fetchall())


def stored_documents() -> dict[int, str | None]:
    return dict(Conversation.objects.values_list("pk", "transcript_search"))


@WRITE_PATHS
def test_a_new_conversation_gets_the_document_its_stored_messages_give(monkeypatch, copy_threshold):
    """Written with the row, from the batch's transcript: the same text in the
    same order (time, then position in the history) as the messages stored."""
    monkeypatch.setattr(bulk, "COPY_THRESHOLD", copy_threshold)
    history = [
        message("CUSTOMER", "Później", 3_000),
        message("ADVISER", "Dzień dobry!", 1_000, author_id="a1"),
        message("CUSTOMER", "Tie, first in the list", 2_000),
        message("CUSTOMER", "Tie, second in the list", 2_000),
    ]
    apply_events(
        [
            IncomingEvent(closed_event("c1", 9_000, messages=history)),
            IncomingEvent(created_event("c2", 5_000)),  # open: no messages, no document
        ]
    )

    assert stored_documents() == recomputed_documents()
    assert Conversation.objects.get(customer__closer_id="c2").transcript_search is None


@WRITE_PATHS
def test_a_backfilled_conversation_is_found_by_its_transcript(
    tmp_path, monkeypatch, copy_threshold
):
    monkeypatch.setattr(bulk, "COPY_THRESHOLD", copy_threshold)
    history = [
        message("CUSTOMER", "Gdzie jest moja przesyłka?", 1_000),
        message("ADVISER", "Kurier dostarczy ją jutro.", 2_000, author_id="a1"),
    ]
    backfill(write(tmp_path / "dump.ndjson", [closed_event("c1", 9_000, messages=history)]))

    assert found("przesylka kurier") == {Conversation.objects.get().pk}


@WRITE_PATHS
def test_messages_a_later_delivery_adds_are_found(monkeypatch, copy_threshold):
    """A re-delivered closed event with a longer history: the stored
    conversation gains messages, and its document is recomputed with them."""
    monkeypatch.setattr(bulk, "COPY_THRESHOLD", copy_threshold)
    history = [
        message("CUSTOMER", "Where is my parcel?", 1_000),
        message("ADVISER", "It ships tomorrow.", 2_000, author_id="a1"),
    ]
    apply_events([IncomingEvent(closed_event("c1", 9_000, messages=history[:1]))])
    assert found("tomorrow") == set()

    apply_events([IncomingEvent(closed_event("c1", 9_000, messages=history))])

    assert found("parcel tomorrow") == {Conversation.objects.get().pk}
    assert stored_documents() == recomputed_documents()


def test_a_late_created_event_re_pairs_the_conversation_and_it_keeps_its_document():
    """Messages never move between conversations (a row keeps its closed
    event); re-pairing rewrites the row's other columns, not its document."""
    apply_events(
        [
            IncomingEvent(created_event("c1", 1_000_000)),
            IncomingEvent(closed_event("c1", 2_000_000)),
            IncomingEvent(
                closed_event("c1", 4_000_000, messages=[message("CUSTOMER", "zwrot", 3_500_000)])
            ),
        ]
    )
    second = Conversation.objects.get(closed_event_ms=4_000_000)
    assert second.created_event_missing

    apply_events([IncomingEvent(created_event("c1", 3_000_000))])

    second.refresh_from_db()
    assert not second.created_event_missing
    assert found("zwrot") == {second.pk}
    assert stored_documents() == recomputed_documents()


def test_an_erased_customers_transcript_is_no_longer_found():
    kept = archive_conversation("cust-kept", [("CUSTOMER", "Chcę złożyć reklamację")])
    archive_conversation("cust-erased", [("CUSTOMER", "Reklamację składam ja")])
    assert len(found("reklamację")) == 2

    erase_customer(identifier="cust-erased")

    assert found("reklamację") == {kept.pk}
    assert found("składam") == set()


@WRITE_PATHS
def test_a_transcript_too_long_for_one_vector_is_archived_and_its_start_is_searchable(
    monkeypatch, copy_threshold
):
    """A tsvector holds at most 1 MB; 40,000 distinct words (1 MB of text)
    would not fit. The document covers the first 100,000 characters."""
    monkeypatch.setattr(bulk, "COPY_THRESHOLD", copy_threshold)
    words = [f"w{hashlib.sha256(str(i).encode()).hexdigest()[:24]}" for i in range(40_000)]
    history = [
        message("CUSTOMER", "reklamacja", 1_000),
        message("CUSTOMER", " ".join(words), 2_000),
    ]

    apply_events([IncomingEvent(closed_event("c1", 9_000, messages=history))])

    conversation = Conversation.objects.get()
    assert conversation.message_count == 2
    assert found(f"reklamacja {words[0]}") == {conversation.pk}
    assert found(words[-1]) == set()
    assert stored_documents() == recomputed_documents()
