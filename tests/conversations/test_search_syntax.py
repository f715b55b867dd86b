"""The transcript search syntax outside PostgreSQL: conversations.search_syntax
reads it as websearch_to_tsquery does, and selectors.transcript_fragments
turns it into icontains conditions (the SQLite path).

The conditions are run here on PostgreSQL (the suite's database), as plain
Django lookups: ``transcript_fragments`` is called directly, so no switch of
the search's database branch is needed, and each query's result is compared
with what PostgreSQL's own full-text search finds for it on the same archive.
"""

import pytest
from django.db import connection

from conversations.models import Conversation
from conversations.search_syntax import Term, excerpt, highlight, parse
from conversations.selectors import transcript_fragments, transcript_query
from tests.search_archive import archive_conversation


def read(query):
    """parse() written short: groups of terms, "-" before an excluded term,
    quotes around a phrase."""
    return [
        [("-" if t.negated else "") + (f'"{t.text}"' if t.phrase else t.text) for t in group]
        for group in parse(query)
    ]


@pytest.mark.parametrize(
    ("query", "expected", "tsquery"),
    [
        ("parcel", [["parcel"]], "'parcel'"),
        ("parcel late", [["parcel", "late"]], "'parcel' & 'late'"),
        ('"parcel is late"', [['"parcel is late"']], "'parcel' <-> 'is' <-> 'late'"),
        ("parcel -refund", [["parcel", "-refund"]], "'parcel' & !'refund'"),
        ('a -"b c"', [["a", '-"b c"']], "'a' & !( 'b' <-> 'c' )"),
        ("a or b", [["a"], ["b"]], "'a' | 'b'"),
        ("a OR b", [["a"], ["b"]], "'a' | 'b'"),
        ('a b or c -d "e f"', [["a", "b"], ["c", "-d", '"e f"']], None),
        ("or a or", [["or", "a", "or"]], "'or' & 'a' & 'or'"),  # no term to join: words
        ("a or or b", [["a"], ["or", "b"]], "'a' | 'or' & 'b'"),
        ("a or -b", [["a"], ["-b"]], "'a' | !'b'"),
        ("- a", [["-a"]], "!'a'"),
        ("--x", [["x"]], "!!'x'"),
        ('"unclosed  phrase', [['"unclosed phrase"']], "'unclosed' <-> 'phrase'"),
        ("e-mail", [["e-mail"]], None),  # as typed: icontains finds "e-mail"
        ('"" - !! ,', [], ""),  # nothing to search for
        ("", [], ""),
    ],
)
def test_the_query_is_read_as_websearch_to_tsquery_reads_it(query, expected, tsquery, db):
    assert read(query) == expected
    if tsquery is not None:  # PostgreSQL's own reading, for comparison
        with connection.cursor() as cursor:
            cursor.execute("SELECT websearch_to_tsquery('simple', %s)::text", [query])
            assert cursor.fetchone()[0] == tsquery


@pytest.fixture
def transcripts(db):
    texts = {
        "late": [("CUSTOMER", "My parcel is late"), ("ADVISER", "The courier has it")],
        "refund": [("CUSTOMER", "Refund for my order please"), ("ADVISER", "Refund sent")],
        "both": [("CUSTOMER", "parcel refund question")],
        "courier": [("CUSTOMER", "late courier again")],
    }
    found = {name: archive_conversation(f"cust-{name}", lines).pk for name, lines in texts.items()}
    found["open"] = archive_conversation("cust-open", closed=False).pk  # no messages
    return found


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("parcel", {"late", "both"}),
        ("PARCEL refund", {"both"}),
        ("courier late", {"late", "courier"}),  # words spread over two messages
        ("parcel or refund", {"late", "refund", "both"}),
        ("parcel -refund", {"late"}),
        ("-parcel", {"refund", "courier"}),  # only conversations with messages
        ('"parcel is late"', {"late"}),
        ('"late parcel"', set()),
        ('refund -"refund sent"', {"both"}),
        ("question or courier -late", {"both"}),
        ("nothing", set()),
    ],
)
def test_the_icontains_conditions_find_what_full_text_search_finds(transcripts, query, expected):
    """Words chosen so that fragments and whole words coincide."""
    by_fragments = set(
        Conversation.objects.filter(transcript_fragments(parse(query))).values_list("pk", flat=True)
    )
    by_full_text = set(
        Conversation.objects.filter(transcript_search=transcript_query(query)).values_list(
            "pk", flat=True
        )
    )
    assert by_fragments == by_full_text == {transcripts[name] for name in expected}


def marks(pieces):
    return [text for text, hit in pieces if hit]


def test_whole_words_are_marked_without_case_or_diacritics():
    pieces = highlight("Łódź, not lodzia; LODZ.", [Term("lodz")], whole_words=True)
    assert marks(pieces) == ["Łódź", "LODZ"]
    assert "".join(text for text, _ in pieces) == "Łódź, not lodzia; LODZ."


def test_fragments_are_marked_where_icontains_finds_them():
    assert marks(highlight("spammer SPAM", [Term("spam")], whole_words=False)) == ["spam", "SPAM"]


def test_a_phrase_is_marked_whole_across_punctuation():
    pieces = highlight(
        "It is late, parcel is late!", [Term("parcel is late", phrase=True)], whole_words=True
    )
    assert marks(pieces) == ["parcel is late"]


def test_an_excerpt_starts_near_the_first_mark_and_says_where_it_was_cut():
    text = "word " * 100 + "needle " + "tail " * 100
    pieces = excerpt(highlight(text, [Term("needle")], whole_words=True), before=20, length=60)
    shown = "".join(text for text, _ in pieces)
    assert shown.startswith("…word") and shown.endswith("…")
    assert marks(pieces) == ["needle"]
    assert len(shown) <= 62
