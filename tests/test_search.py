"""search_conversations: every way staff find a conversation, on the indexes."""

import pytest
from django.db import connection

from conversations import selectors
from conversations.models import Conversation
from conversations.selectors import search_advisers, search_conversations, search_customers
from tests.search_archive import ZOFIA, archive_conversation, archive_jon_snow

pytestmark = pytest.mark.django_db


@pytest.fixture
def archive():
    jon = archive_jon_snow()
    lukasz = archive_conversation(
        "cust-lukasz",
        [("CUSTOMER", "Chcę złożyć reklamację zamówienia"), ("ADVISER", "Oczywiście, pomogę.")],
        adviser=ZOFIA,
        first_name="Łukasz",
        last_name="Żółkiewski",
        random_name="Cichy Żuraw",
        email="lukasz@przyklad.pl",
        phone="+48 511 222 333",
    )
    return {"jon": jon, "lukasz": lukasz}


def found(query, queryset=None):
    return set(search_conversations(query=query, queryset=queryset).values_list("pk", flat=True))


@pytest.mark.parametrize(
    ("query", "who"),
    [
        ("Jon", "jon"),  # customer first name
        ("snow", "jon"),  # last name, any case
        ("Jon Snow", "jon"),  # first and last name together
        ("frosty wolf", "jon"),  # alias (randomName)
        ("winterfell", "jon"),  # email fragment
        ("jon.snow@winterfell.com", "jon"),  # whole email
        ("600 100", "jon"),  # phone fragment
        ("cust-jon", "jon"),  # customer id
        ("Holmes", "jon"),  # adviser last name
        ("bob@closer", "jon"),  # adviser email
        ("adviser-bob", "jon"),  # adviser id
        ("parcel", "jon"),  # transcript word
        ("tomorrow", "jon"),  # transcript word of the adviser
        ("reklamację", "lukasz"),  # Polish word as written
        ("reklamacje", "lukasz"),  # ... and by its unaccented form
        ("ZLOZYC", "lukasz"),  # unaccented, upper case
        ("lukasz", "lukasz"),  # a name with diacritics, typed without them
        ("zolkiewski", "lukasz"),
        ("Wąsowska", "lukasz"),  # adviser name with diacritics
        ("wasowska", "lukasz"),
        ("zuraw", "lukasz"),  # alias without diacritics
    ],
)
def test_search_finds_the_conversation_by(archive, query, who):
    assert found(query) == {archive[who].pk}


def test_search_needs_every_transcript_word_in_one_message(archive):
    assert found("parcel ships") == set()
    assert found("ships tomorrow") == {archive["jon"].pk}


def test_search_understands_quoted_phrases_and_exclusions(archive):
    assert found('"złożyć reklamację"') == {archive["lukasz"].pk}
    assert found('"reklamację złożyć"') == set()
    assert found("parcel -tomorrow") == {archive["jon"].pk}


def test_search_finds_nothing_for_an_unknown_word(archive):
    assert found("unicorn") == set()


@pytest.mark.parametrize("query", ["!!!", "'", '"', "a & b | !c", "\\"])
def test_search_with_only_punctuation_or_operators_finds_nothing_and_fails_nothing(archive, query):
    assert found(query) == set()


def test_search_treats_like_wildcards_as_text(archive):
    assert found("%") == set()
    assert found("_") == set()


def test_search_ignores_nul_characters_postgresql_cannot_store(archive):
    assert found("par\x00cel") == {archive["jon"].pk}


def test_a_very_long_query_is_cut_not_refused(archive):
    assert found("parcel " + "x" * 10_000) == set()


def test_empty_search_returns_the_given_queryset(archive):
    assert found("   ") == {archive["jon"].pk, archive["lukasz"].pk}


def test_search_keeps_the_callers_filters(archive):
    only_lukasz = Conversation.objects.filter(pk=archive["lukasz"].pk)
    assert found("parcel", only_lukasz) == set()
    assert found("zofia", only_lukasz) == {archive["lukasz"].pk}


def test_a_conversation_matching_several_ways_appears_once(archive):
    archive_conversation("cust-snowy", [("CUSTOMER", "snow everywhere")], last_name="Snowy")
    results = list(search_conversations(query="snow").values_list("pk", flat=True))
    assert len(results) == len(set(results)) == 2


def test_people_search_finds_customers_and_advisers_by_fragment(archive):
    assert list(search_customers(query="winter").values_list("closer_id", flat=True)) == [
        "cust-jon"
    ]
    assert list(search_advisers(query="zofia").values_list("closer_id", flat=True)) == [
        "adviser-zofia"
    ]


def test_the_icontains_fallback_finds_the_same_fields(archive, monkeypatch):
    """The path SQLite takes: plain icontains over the same fields."""
    monkeypatch.setattr(selectors, "uses_search_indexes", lambda queryset: False)
    assert found("winterfell") == {archive["jon"].pk}
    assert found("Holmes") == {archive["jon"].pk}
    assert found("reklamację") == {archive["lukasz"].pk}
    assert found("600 100") == {archive["jon"].pk}


@pytest.mark.parametrize(
    ("query", "index"),
    [
        ("parcel", "message_text_search_idx"),
        ("winterfell", "customer_search_trgm_idx"),
        ("holmes", "adviser_search_trgm_idx"),
    ],
)
def test_search_is_served_by_its_index(archive, query, index):
    """The selector's SQL must equal the index expressions of 0002, or
    PostgreSQL silently scans. Allow only bitmap index scans and read the plan."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
    plan = search_conversations(query=query).explain()
    assert index in plan


def test_closed_types_lists_each_value_once(archive):
    archive_conversation("cust-x", closed_type="abandoned")
    archive_conversation("cust-y", closed_type="abandoned")
    archive_conversation("cust-z", closed=False)
    assert selectors.closed_types() == ["abandoned", "solved"]


def test_an_advisers_conversations_are_read_in_list_order_from_one_index(archive):
    """The adviser filter, and the adviser branch of the search, read
    conversation_adviser_idx (assignee, opened_at DESC, id DESC): the page
    comes out of the index in order, with no sort of the adviser's rows."""
    adviser = archive["lukasz"].assignee
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
    plan = Conversation.objects.filter(assignee=adviser)[:50].explain()
    assert "conversation_adviser_idx" in plan
    assert "Sort" not in plan
