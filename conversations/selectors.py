"""Reads of the archive shared by admin and the REST API.

``search_conversations`` is the one place that decides how search works. On
PostgreSQL it uses the trigram indexes of migration ``0002_search_indexes``
and the transcript documents of ``0006_conversation_transcript_search``; the
expressions below must render exactly the SQL those indexes were built on, or
the planner falls back to scanning. Elsewhere (SQLite for a first run) it is a
plain ``icontains`` over the same fields, the transcript's web-search syntax
read by ``conversations.search_syntax``.
"""

from typing import Any, cast

from django.contrib.postgres.expressions import ArraySubquery
from django.contrib.postgres.search import SearchQuery
from django.core.cache import cache
from django.db import connections
from django.db.models import F, Func, Lookup, Q, QuerySet, TextField, Value
from django.db.models.sql.compiler import SQLCompiler
from django.utils import timezone

from .models import (
    Adviser,
    Conversation,
    ConversationDeletion,
    ConversationEvent,
    Customer,
    EventKind,
    Message,
)
from .search_syntax import Expression, parse

CUSTOMER_SEARCH_FIELDS = ("first_name", "last_name", "random_name", "email", "phone", "closer_id")
ADVISER_SEARCH_FIELDS = ("first_name", "last_name", "email", "closer_id")


class Unaccent(Func):
    """``closer_unaccent``: the IMMUTABLE wrapper of ``unaccent`` (see 0002)."""

    function = "closer_unaccent"
    output_field = TextField()


class SearchDocument(Func):
    """The unaccented, lower-cased fields joined by spaces: one trigram index
    per table serves a fragment of any of them, and "jon snow" matches a first
    and last name side by side."""

    template = "closer_unaccent(lower(%(expressions)s))"
    arg_joiner = " || ' ' || "
    output_field = TextField()


class ContainsFragment(Lookup):
    """``document LIKE closer_unaccent(lower('%fragment%'))``.

    The right side is a constant expression of immutable functions, so the
    planner folds it before choosing an index: a trigram GIN index serves it.
    """

    lookup_name = "contains_fragment"

    def get_db_prep_lookup(self, value: Any, connection: Any) -> tuple[str, list[Any]]:
        return "%s", [f"%{escape_like(str(value))}%"]

    def as_sql(self, compiler: SQLCompiler, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} LIKE closer_unaccent(lower({rhs}))", [*lhs_params, *rhs_params]


MAX_QUERY_LENGTH = 200


def clean_query(query: str) -> str:
    """What is searched for: PostgreSQL text cannot hold NUL, and nobody types
    more than a couple of hundred characters into a search box."""
    return query.replace("\x00", "").strip()[:MAX_QUERY_LENGTH]


class EqualsAny(Lookup):
    """``column = ANY(array)``.

    With an ``ARRAY(subquery)`` on the right, PostgreSQL runs the subquery
    once (an InitPlan) and probes the column's index with the result, so the
    condition can join a BitmapOr; ``column IN (subquery)`` inside an OR is
    a hashed filter over every row instead.
    """

    lookup_name = "equals_any"

    def as_sql(self, compiler: SQLCompiler, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs})", [*lhs_params, *rhs_params]


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def uses_search_indexes(queryset: QuerySet[Any]) -> bool:
    """PostgreSQL has the indexes of 0002; every other database scans."""
    return connections[queryset.db].vendor == "postgresql"


def search_conversations(
    *, query: str, queryset: QuerySet[Conversation] | None = None
) -> QuerySet[Conversation]:
    """Conversations whose customer, adviser or transcript matches ``query``.

    - customer first/last name, alias, email, phone or Closer id, and adviser
      first/last name, email or Closer id: a fragment, ignoring case and
      diacritics ("lodz" finds "Łódź");
    - transcript: whole words, ignoring case and diacritics, all of them
      anywhere in the conversation's transcript (in one message or spread
      over several); web-search syntax ("quoted phrase", -word, or). On
      PostgreSQL a quoted phrase may run from the end of one message into
      the next, as the transcript is searched as one text. Elsewhere
      (SQLite) the same syntax matches fragments (``icontains``: "log"
      finds "login"), diacritics as typed, a phrase within one message.

    The result is ``queryset`` filtered by conditions on the conversation's
    own columns (no join), so it has no duplicate rows and keeps the
    caller's ordering and filters.
    """
    conversations = Conversation.objects.all() if queryset is None else queryset
    words = clean_query(query)
    if not words:
        return conversations
    if uses_search_indexes(conversations):
        return conversations.filter(_indexed_matches(words, conversations.db))
    return conversations.filter(_icontains_matches(words))


# More advisers than this matching a search are looked up inside the query.
MAX_LISTED_ADVISERS = 1_000


def _indexed_matches(words: str, using: str) -> Q:
    """An OR of three conditions on the conversation's own indexed columns:
    ``customer_id``, ``assignee_id`` and ``transcript_search``.

    PostgreSQL answers it with one bitmap heap scan of the conversation
    table over a BitmapOr of three bitmap index scans, then sorts the few
    matches into the list's order (opened_at DESC, id DESC). The alternative
    it weighs is walking ``conversation_opened_idx`` in that order and
    filtering every row until a page is full, which is right only when a
    large share of conversations matches; it decides by the estimated number
    of matches, so each branch must be estimated well:

    - transcript: the constant tsquery against the column's statistics
      (most common lexemes): estimated well;
    - customer: ``customer_id = ANY(ARRAY(subquery))``. The subquery's result
      is unknown at planning; PostgreSQL guesses ten customers' worth of
      conversations, a few of a hundred thousand: the bitmap plan, whose
      cost grows with the real matches, never a walk of the whole list;
    - adviser: the same guess is ten advisers, and with a few dozen advisers
      that is a fifth of the archive, so the planner walked the opened_at
      index for an adviser's 2,300 conversations (50-90 ms against 4-5 for
      the bitmap plan on a 100,000-conversation archive). So the matching
      advisers (a small table) are looked up first and their ids written into
      the query as constants, which PostgreSQL estimates from the column's
      statistics; when an adviser-heavy search matches most conversations,
      it then rightly walks the index.
    """
    advisers = search_advisers(query=words, queryset=Adviser.objects.using(using)).order_by()
    adviser_ids = list(advisers.values_list("pk", flat=True)[: MAX_LISTED_ADVISERS + 1])
    if len(adviser_ids) > MAX_LISTED_ADVISERS:
        by_adviser = Q(EqualsAny(F("assignee_id"), ArraySubquery(advisers.values("pk"))))
    else:
        # An empty list drops the branch from the query.
        by_adviser = Q(assignee_id__in=adviser_ids)
    customers = search_customers(query=words).order_by().values("pk")
    by_customer = Q(EqualsAny(F("customer_id"), ArraySubquery(customers)))
    by_transcript = Q(transcript_search=transcript_query(words))
    return by_customer | by_adviser | by_transcript


def transcript_query(words: str) -> SearchQuery:
    return SearchQuery(Unaccent(Value(words)), config="simple", search_type="websearch")


def _icontains_matches(words: str) -> Q:
    people = Q()
    for field in CUSTOMER_SEARCH_FIELDS:
        people |= Q(**{f"customer__{field}__icontains": words})
    for field in ADVISER_SEARCH_FIELDS:
        people |= Q(**{f"assignee__{field}__icontains": words})
    return people | transcript_fragments(parse(words))


def transcript_fragments(expression: Expression) -> Q:
    """The transcript branch where there is no full-text search (SQLite):
    the web-search syntax of ``expression`` over ``icontains`` fragments.

    Each term is "some message of the conversation contains it", so the
    words of one group may be spread over several messages, as on
    PostgreSQL; a phrase must stand in one message. A group of exclusions
    alone matches only conversations with messages, as a tsquery of NOT
    terms matches only conversations with a document.
    """
    either = Q(pk__in=[])
    for group in expression:
        every = Q()
        for term in group:
            holding = Message.objects.filter(text__icontains=term.text).values("conversation_id")
            every &= ~Q(pk__in=holding) if term.negated else Q(pk__in=holding)
        if all(term.negated for term in group):
            every &= Q(message_count__gt=0)
        either |= every
    return either


def search_customers(
    *, query: str, queryset: QuerySet[Customer] | None = None
) -> QuerySet[Customer]:
    """Customers with ``query`` in a name, alias, email, phone or Closer id."""
    customers = Customer.objects.all() if queryset is None else queryset
    return _search_people(customers, query, CUSTOMER_SEARCH_FIELDS)


def search_advisers(*, query: str, queryset: QuerySet[Adviser] | None = None) -> QuerySet[Adviser]:
    """Advisers with ``query`` in a name, email or Closer id."""
    advisers = Adviser.objects.all() if queryset is None else queryset
    return _search_people(advisers, query, ADVISER_SEARCH_FIELDS)


def _search_people(queryset: QuerySet[Any], query: str, fields: tuple[str, ...]) -> QuerySet[Any]:
    fragment = clean_query(query)
    if not fragment:
        return queryset
    if uses_search_indexes(queryset):
        return queryset.filter(ContainsFragment(SearchDocument(*fields), fragment))
    matches = Q()
    for field in fields:
        matches |= Q(**{f"{field}__icontains": fragment})
    return queryset.filter(matches)


def closed_types() -> list[str]:
    """The distinct closed types, for the admin filter.

    On PostgreSQL a loose index scan over ``conversation_closed_type_idx``:
    one index probe per distinct value, where ``SELECT DISTINCT`` would read
    every conversation (PostgreSQL before 18 has no skip scan).
    """
    if connections[Conversation.objects.db].vendor != "postgresql":
        return list(
            Conversation.objects.exclude(closed_type="")
            .order_by("closed_type")
            .values_list("closed_type", flat=True)
            .distinct()
        )
    table = Conversation._meta.db_table
    sql = f"""
        WITH RECURSIVE types(value) AS (
            (SELECT closed_type FROM {table} WHERE closed_type > '' ORDER BY 1 LIMIT 1)
            UNION ALL
            SELECT (SELECT closed_type FROM {table} WHERE closed_type > types.value
                    ORDER BY 1 LIMIT 1)
            FROM types WHERE types.value IS NOT NULL
        )
        SELECT value FROM types WHERE value IS NOT NULL
    """  # noqa: S608 -- the table name is ours, not input
    with connections[Conversation.objects.db].cursor() as cursor:
        cursor.execute(sql)
        return [row[0] for row in cursor.fetchall()]


def opened_years() -> list[int]:
    """The years (in the current time zone) in which conversations were opened.

    On PostgreSQL a loose index scan over ``conversation_opened_idx``: the
    first opening, then the first opening on or after the next New Year, one
    index probe per year with conversations, where ``SELECT DISTINCT`` of the
    years would read every conversation. Elsewhere (SQLite) Django's
    ``dates()``, which does read them all.
    """
    conversations = Conversation.objects.order_by()
    zone = timezone.get_current_timezone_name()
    if connections[conversations.db].vendor != "postgresql":
        return [d.year for d in conversations.dates("opened_at", "year")]
    table = Conversation._meta.db_table
    sql = f"""
        WITH RECURSIVE years(year) AS (
            SELECT date_part('year', (SELECT min(opened_at) FROM {table}) AT TIME ZONE %(zone)s)
            UNION ALL
            SELECT date_part('year', (
                SELECT min(opened_at) FROM {table}
                WHERE opened_at >= make_timestamptz(years.year::int + 1, 1, 1, 0, 0, 0, %(zone)s)
            ) AT TIME ZONE %(zone)s)
            FROM years WHERE years.year IS NOT NULL
        )
        SELECT year::int FROM years WHERE year IS NOT NULL
    """  # noqa: S608 -- the table name is ours, not input
    with connections[conversations.db].cursor() as cursor:
        cursor.execute(sql, {"zone": zone})
        return [row[0] for row in cursor.fetchall()]


# The admin's closed-type filter and date hierarchy read these two on every
# changelist page (a query each), and they change rarely: kept for a minute
# in the default cache, so a new closed type or year shows in the sidebar
# within a minute.
ADMIN_CHOICES_CACHE_SECONDS = 60
CLOSED_TYPES_CACHE_KEY = "conversations:closed-types"


def cached_closed_types() -> list[str]:
    return cast(
        list[str],
        cache.get_or_set(CLOSED_TYPES_CACHE_KEY, closed_types, ADMIN_CHOICES_CACHE_SECONDS),
    )


def opened_years_cache_key() -> str:
    # Per time zone: a conversation of New Year's Eve is in another year elsewhere.
    return f"conversations:opened-years:{timezone.get_current_timezone_name()}"


def cached_opened_years() -> list[int]:
    return cast(
        list[int],
        cache.get_or_set(opened_years_cache_key(), opened_years, ADMIN_CHOICES_CACHE_SECONDS),
    )


def forget_cached_choices() -> None:
    """Drop the two cached answers above, so the next page reads the archive
    again: after an erasure, a closed type only that customer's conversations
    had (Closer's free text) or the year of their conversations must not
    be shown for another minute. (The years of the time zone in use: the
    settings' TIME_ZONE, in a command as in the admin.)"""
    cache.delete_many([CLOSED_TYPES_CACHE_KEY, opened_years_cache_key()])


def transcript(*, conversation: Conversation) -> QuerySet[Message]:
    return Message.objects.filter(conversation=conversation).order_by("sent_at", "id")


def building_events(*, conversation: Conversation) -> list[ConversationEvent]:
    """The created and closed events the identity walk built this conversation from."""
    wanted = Q(pk__in=[])
    if conversation.created_event_ms is not None:
        wanted |= Q(kind=EventKind.CREATED, occurred_ms=conversation.created_event_ms)
    if conversation.closed_event_ms is not None:
        wanted |= Q(kind=EventKind.CLOSED, occurred_ms=conversation.closed_event_ms)
    events = ConversationEvent.objects.filter(wanted, customer_id=conversation.customer_id)
    return list(events.order_by("occurred_ms"))


def recent_conversations(
    *, customer: Customer | None = None, adviser: Adviser | None = None, limit: int = 20
) -> list[Conversation]:
    """The latest conversations of a customer or an adviser, newest first."""
    conversations = Conversation.objects.select_related("customer", "assignee")
    if customer is not None:
        conversations = conversations.filter(customer=customer)
    if adviser is not None:
        conversations = conversations.filter(assignee=adviser)
    return list(conversations.order_by("-opened_at", "-id")[:limit])


def conversation_holding(
    *, kind: str, customer_closer_id: str, value: str | int
) -> Conversation | None:
    """The conversation that now holds a customer's created or closed event
    (``kind`` "created" or "closed", ``value`` its timestamp in ms), or the one
    with an explicit Closer id (``kind`` "ref"): what a permalink leads to.

    A created event stays with its conversation when a closed one pairs with
    it, so a link made while a conversation was open still finds it closed.
    Each lookup is one probe of a unique index (uniq_conversation_*).
    """
    conversations = Conversation.objects.select_related("customer")
    if kind == "ref":
        return conversations.filter(closer_id=value).first()
    field = "closed_event_ms" if kind == "closed" else "created_event_ms"
    return conversations.filter(customer__closer_id=customer_closer_id, **{field: value}).first()


def deletion_of(*, conversation_id: int) -> ConversationDeletion | None:
    """Why a conversation left the archive (merged, erased, retention), if it did.

    No index serves it (the feed reads by time): read only when a permalink
    leads nowhere, a page a person waits for once, not a list.
    """
    return ConversationDeletion.objects.filter(conversation_id=conversation_id).last()
