"""Why a conversation matched a search: for the rows of one listed page only.

``search_conversations`` answers *which* conversations match; this module
answers *why*, for the few rows a page shows (never for every match): the
customer or adviser fields that hold the searched fragment, and a snippet of
the first message holding the searched words, those words marked.

The message is chosen by the database, as the search matched: on
PostgreSQL the messages' ``simple`` vectors against the same
``websearch_to_tsquery`` (the first message holding the whole query, else
the first holding any of its words: the words of one query may be spread
over several messages); elsewhere ``icontains``, the first holding any.
The snippet is cut and marked in Python (``search_syntax.highlight``), not
by ``ts_headline``: its parser drops anything shaped like an HTML tag, so
a message reading "<b>spam</b>" would be quoted as " spam ", and it cannot
fold "Łódź" to "lodz". Marked pieces stay text until the admin escapes
them (``admin_display.marked``), so no marker can be forged by a message.
"""

from dataclasses import dataclass, field

from django.db import connections
from django.db.models import Q

from .models import Conversation, Message
from .search_syntax import Highlighted, Term, excerpt, fold, highlight, parse, positive_terms
from .selectors import clean_query


@dataclass
class SearchMatch:
    """The fields that hold the searched fragment, as (label, value marked),
    and a snippet of the matching message, marked (None if none matched)."""

    fields: list[tuple[str, Highlighted]] = field(default_factory=list)
    snippet: Highlighted | None = None


def search_terms(query: str) -> list[Term]:
    """The words and phrases of ``query`` a match shows, marked on a page."""
    return positive_terms(parse(clean_query(query)))


def matches_whole_words(using: str) -> bool:
    """PostgreSQL matches transcript words whole (full-text search);
    elsewhere ``icontains`` matches fragments. Marks follow suit."""
    return connections[using].vendor == "postgresql"


def search_matches(*, query: str, conversations: list[Conversation]) -> dict[int, SearchMatch]:
    """Why each of ``conversations`` (one page, loaded with their customer
    and adviser) matched ``query``: at most one query, for the messages."""
    words = clean_query(query)
    if not words or not conversations:
        return {}
    using = conversations[0]._state.db or "default"
    terms = positive_terms(parse(words))
    texts = _matching_messages(words, terms, [c.pk for c in conversations], using)
    whole_words = matches_whole_words(using)
    fragment, folded = Term(text=words), fold(words)
    matches = {}
    for conversation in conversations:
        text = texts.get(conversation.pk)
        match = SearchMatch(
            fields=[
                (label, highlight(value, [fragment], whole_words=False))
                for label, value in _people_fields(conversation)
                if value and folded in fold(value)
            ],
            snippet=None
            if text is None
            else excerpt(highlight(text, terms, whole_words=whole_words)),
        )
        if match.fields or match.snippet:
            matches[conversation.pk] = match
    return matches


def _people_fields(conversation: Conversation) -> list[tuple[str, str]]:
    """The searched customer and adviser fields (selectors'
    CUSTOMER_SEARCH_FIELDS and ADVISER_SEARCH_FIELDS), as a row shows them."""
    customer = conversation.customer
    fields = [
        ("customer name", f"{customer.first_name} {customer.last_name}".strip()),
        ("customer alias", customer.random_name),
        ("customer e-mail", customer.email),
        ("customer phone", customer.phone),
        ("customer Closer id", customer.closer_id),
    ]
    adviser = conversation.assignee
    if adviser is not None:
        fields += [
            ("adviser name", f"{adviser.first_name} {adviser.last_name}".strip()),
            ("adviser e-mail", adviser.email),
            ("adviser Closer id", adviser.closer_id),
        ]
    return fields


def _matching_messages(
    words: str, terms: list[Term], conversation_ids: list[int], using: str
) -> dict[int, str]:
    """The text of the first message of each conversation holding the
    searched words (all of them if one message does, else any)."""
    if not terms:  # only exclusions: nothing to show
        return {}
    if not matches_whole_words(using):
        holds_any = Q()
        for term in terms:
            holds_any |= Q(text__icontains=term.text)
        rows = (
            Message.objects.using(using)
            .filter(holds_any, conversation_id__in=conversation_ids)
            .order_by("conversation_id", "sent_at", "id")
            .values_list("conversation_id", "text")
        )
        texts: dict[int, str] = {}
        for conversation_id, text in rows:
            texts.setdefault(conversation_id, text)
        return texts
    any_term = " or ".join(f'"{t.text}"' if t.phrase else t.text for t in terms)
    with connections[using].cursor() as cursor:
        cursor.execute(
            _FIRST_MATCHING_MESSAGES, {"ids": conversation_ids, "any": any_term, "all": words}
        )
        # None: a phrase running from one message into the next.
        return {pk: text for pk, text in cursor.fetchall() if text is not None}


# Only the conversations whose transcript document holds a searched word (a
# people search reads no message), then in each the first message holding
# every word, else any (in transcript order). OFFSET 0 keeps the inner
# select apart, so each message's vector is computed once, not once per use:
# computing them is what this query costs (about 25 µs a message).
_MESSAGES, _CONVERSATIONS = Message._meta.db_table, Conversation._meta.db_table
_FIRST_MATCHING_MESSAGES = f"""
    SELECT c.id, (
        SELECT m.text
        FROM (
            SELECT text, sent_at, id,
                   to_tsvector('simple'::regconfig, closer_unaccent(text)) AS document
            FROM {_MESSAGES} WHERE conversation_id = c.id OFFSET 0
        ) AS m
        WHERE m.document @@ websearch_to_tsquery('simple'::regconfig, closer_unaccent(%(any)s))
        ORDER BY m.document @@ websearch_to_tsquery('simple'::regconfig, closer_unaccent(%(all)s))
                 DESC, m.sent_at, m.id
        LIMIT 1
    )
    FROM {_CONVERSATIONS} AS c
    WHERE c.id = ANY(%(ids)s)
      AND c.transcript_search @@ websearch_to_tsquery('simple'::regconfig, closer_unaccent(%(any)s))
"""  # noqa: S608 -- table names, no values
