"""Why a conversation matched: the list's snippet and field labels, and the
transcript page opened from a search with its hits marked."""

import re
from urllib.parse import urlencode

import pytest
from django.contrib.admin.sites import site
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conversations.models import Conversation
from tests.search_archive import BOB, archive_conversation

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:conversations_conversation_changelist")


def change_url(conversation, searched=None):
    url = reverse("admin:conversations_conversation_change", args=[conversation.pk])
    if searched is None:
        return url
    return url + "?" + urlencode({"_changelist_filters": urlencode({"q": searched})})


def match_cells(response):
    """The "why it matched" cell of each listed row, as HTML."""
    html = response.content.decode()
    cells = []
    for part in html.split('<td class="field-search_match">')[1:]:
        cells.append(part.split("</td>", 1)[0])
    return cells


@pytest.fixture
def spam(db):
    return archive_conversation(
        "cust-anna",
        [
            ("CUSTOMER", "Hi, I can't log in"),
            ("ADVISER", "Your account looks fine"),
            ("CUSTOMER", "Try <script>alert(1)</script> and <b>spam</b> now"),
        ],
        adviser=BOB,
        first_name="Anna",
        last_name="Nowak",
        random_name="Frosty Wolf",
        email="anna.nowak@example.pl",
        phone="+48 601 222 333",
    )


def test_a_transcript_search_shows_the_matching_message_with_the_word_marked(admin_client, spam):
    response = admin_client.get(CHANGELIST, {"q": "spam"})
    (cell,) = match_cells(response)
    assert cell == (
        '<span class="match-snippet">Try &lt;script&gt;alert(1)&lt;/script&gt; and '
        "&lt;b&gt;<mark>spam</mark>&lt;/b&gt; now</span>"
    )
    assert "Why it matched" in response.content.decode()  # the column's header


def test_markup_in_a_message_is_never_rendered(admin_client, spam):
    # PostgreSQL's parser skips "<script>…</script>" as markup: "now" is a word.
    page = admin_client.get(CHANGELIST, {"q": "try now"}).content.decode()
    assert "<script>alert" not in page
    assert "<b>spam" not in page
    assert (
        "<mark>Try</mark> &lt;script&gt;alert(1)&lt;/script&gt; and &lt;b&gt;spam&lt;/b&gt; "
        "<mark>now</mark>"
    ) in page


def test_the_message_holding_every_word_is_preferred(admin_client, spam):
    (cell,) = match_cells(admin_client.get(CHANGELIST, {"q": "spam now"}))
    assert "<mark>spam</mark>&lt;/b&gt; <mark>now</mark>" in cell


def test_words_spread_over_messages_show_the_first_message_holding_one(admin_client, spam):
    (cell,) = match_cells(admin_client.get(CHANGELIST, {"q": "account spam"}))
    assert cell == '<span class="match-snippet">Your <mark>account</mark> looks fine</span>'


def test_words_typed_without_diacritics_mark_the_word_as_written(admin_client):
    archive_conversation("cust-lodz", [("CUSTOMER", "Mieszkam w Łodzi, nie w Łódź")])
    (cell,) = match_cells(admin_client.get(CHANGELIST, {"q": "lodz"}))
    assert "nie w <mark>Łódź</mark>" in cell
    assert "<mark>Łodzi</mark>" not in cell  # whole words, as the search matched


@pytest.mark.parametrize(
    ("query", "label"),
    [
        ("anna.nowak@", "matched customer e-mail: <mark>anna.nowak@</mark>example.pl"),
        ("anna nowak", "matched customer name: <mark>Anna Nowak</mark>"),
        ("601 222", "matched customer phone: +48 <mark>601 222</mark> 333"),
        ("cust-anna", "matched customer Closer id: <mark>cust-anna</mark>"),
        ("frosty", "matched customer alias: <mark>Frosty</mark> Wolf"),
        ("holmes", "matched adviser name: Bob <mark>Holmes</mark>"),
        ("bob@closer", "matched adviser e-mail: <mark>bob@closer</mark>.app"),
    ],
)
def test_a_people_search_says_which_field_matched(admin_client, spam, query, label):
    (cell,) = match_cells(admin_client.get(CHANGELIST, {"q": query}))
    assert cell == f'<span class="match-field">{label}</span>'


def test_a_field_and_the_transcript_matching_show_both(admin_client):
    archive_conversation(
        "cust-p", [("CUSTOMER", "A parcel for Parcelia")], email="parcel@x.pl", random_name="P"
    )
    (cell,) = match_cells(admin_client.get(CHANGELIST, {"q": "parcel"}))
    field, snippet = cell.split("<br>")
    assert (
        field
        == '<span class="match-field">matched customer e-mail: <mark>parcel</mark>@x.pl</span>'
    )
    assert snippet == '<span class="match-snippet">A <mark>parcel</mark> for Parcelia</span>'


def test_a_phrase_running_from_one_message_into_the_next_shows_the_preview(admin_client, spam):
    # PostgreSQL searches the transcript as one text; no single message holds it.
    (cell,) = match_cells(admin_client.get(CHANGELIST, {"q": '"log in your account"'}))
    assert cell == "Hi, I can&#x27;t log in"


def test_a_search_of_exclusions_alone_shows_the_preview(admin_client, spam):
    (cell,) = match_cells(admin_client.get(CHANGELIST, {"q": "-refund"}))
    assert cell == "Hi, I can&#x27;t log in"


def test_without_a_search_the_list_shows_the_first_customer_message(admin_client, spam):
    response = admin_client.get(CHANGELIST)
    assert match_cells(response) == []
    assert (
        '<td class="field-first_message">Hi, I can&#x27;t log in</td>' in response.content.decode()
    )


def test_a_row_opens_its_conversation_with_the_search_carried(admin_client, spam):
    page = admin_client.get(CHANGELIST, {"q": "spam"}).content.decode()
    assert f'href="{change_url(spam)}?_changelist_filters=q%3Dspam"' in page


# --- The transcript page opened from a search ----------------------------------------


def test_the_transcript_marks_the_searched_words_and_anchors_the_first_hit(admin_client, spam):
    page = admin_client.get(change_url(spam, "spam")).content.decode()
    assert (
        '<div class="message-text">Try &lt;script&gt;alert(1)&lt;/script&gt; and '
        "&lt;b&gt;<mark>spam</mark>&lt;/b&gt; now</div>"
    ) in page
    assert page.count("<mark>") == 1
    first_hit = page.index('id="first-hit"')
    assert page.index("Try &lt;script&gt;") > first_hit > page.index("Your account looks fine")
    assert "conversations/transcript_hits.js" in page  # scrolls it into view
    assert "1 message holds “spam”." in page


def test_every_message_holding_a_word_is_marked_the_first_anchored(admin_client, spam):
    page = admin_client.get(change_url(spam, "account or spam")).content.decode()
    assert page.count("<mark>") == 2
    assert page.count('id="first-hit"') == 1
    assert page.index('id="first-hit"') < page.index("Your <mark>account</mark>")
    assert "2 messages hold “account or spam”." in page


def test_a_q_of_the_page_itself_is_highlighted_too(admin_client, spam):
    url = reverse("admin:conversations_conversation_change", args=[spam.pk])
    page = admin_client.get(url, {"q": "fine"}).content.decode()
    assert "looks <mark>fine</mark>" in page


def test_a_search_the_transcript_does_not_hold_marks_nothing(admin_client, spam):
    page = admin_client.get(change_url(spam, "anna.nowak@")).content.decode()
    assert "<mark>" not in page
    assert "transcript_hits.js" not in page
    assert "0 messages hold “anna.nowak@”." in page


def test_the_searched_text_is_escaped_on_the_page(admin_client, spam):
    page = admin_client.get(change_url(spam, "<b>spam")).content.decode()
    assert "“&lt;b&gt;spam”" in page
    assert "<b>spam" not in page


def test_a_page_opened_without_a_search_marks_nothing(admin_client, spam):
    page = admin_client.get(change_url(spam)).content.decode()
    assert "<mark>" not in page
    assert "transcript-hits" not in page
    assert "transcript_hits.js" not in page


def test_only_the_listed_rows_are_read_for_snippets(admin_client, monkeypatch):
    matching = [archive_conversation(f"cust-{n}", [("CUSTOMER", f"parcel {n}")]) for n in range(3)]
    monkeypatch.setattr(site._registry[Conversation], "list_per_page", 2)
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(CHANGELIST, {"q": "parcel"})
    shown = {row.pk for row in response.context["cl"].result_list}
    assert len(shown) == 2 and len(match_cells(response)) == 2
    (sql,) = [
        q["sql"] for q in queries.captured_queries if "FROM conversations_message" in q["sql"]
    ]
    read = {int(pk) for pk in re.search(r"c\.id = ANY\('\{([^}]*)\}'", sql)[1].split(",")}
    assert read == shown != {c.pk for c in matching}
