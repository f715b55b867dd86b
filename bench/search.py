"""Admin search at scale: the indexed search against a plain icontains scan.

Builds an archive of --messages messages (default 1,000,000; about ten per
conversation) in its own PostgreSQL database with COPY, then times the real
admin changelist (test Client, logged-in superuser) searching for a
transcript word, a customer email fragment and an adviser name. Each is timed
twice in the same run on the same data: with ``search_conversations`` as
shipped (full-text + trigram indexes), and with its SQLite path, a plain
``icontains`` over the same fields, as the baseline. The shipped page shows
why each row matched (``conversations.search_matches``: a snippet, field
labels); it is also timed without them, interleaved request by request, for
what the snippets cost.

    python bench/search.py                     # build (or reuse) and time
    python bench/search.py --messages 200000   # a quicker, smaller run
    python bench/search.py --rebuild           # drop and refill the data

The database (--database-url, default .../ca_admin_bench) is created when
missing and reused when it already holds the requested size.
"""

import argparse
import hashlib
import importlib
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/ca_admin_bench"

FIRST_NAMES = [
    "Anna", "Katarzyna", "Małgorzata", "Agnieszka", "Barbara", "Ewa", "Krystyna",
    "Magdalena", "Joanna", "Łucja", "Piotr", "Krzysztof", "Andrzej", "Tomasz", "Paweł",
    "Michał", "Marcin", "Łukasz", "Grzegorz", "Jakub", "Emma", "Olivia", "Sophie",
    "James", "Oliver", "Harry", "George", "Jack", "Amelia", "Isla",
]  # fmt: skip
LAST_NAMES = [
    "Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kowalczyk", "Kamiński", "Lewandowski",
    "Zieliński", "Szymański", "Woźniak", "Dąbrowski", "Kozłowski", "Jankowski", "Mazur",
    "Kwiatkowski", "Krawczyk", "Piotrowski", "Grabowski", "Nowakowski", "Pawłowski",
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
    "Robinson", "Wright",
]  # fmt: skip
ADJECTIVES = ["Frosty", "Quiet", "Brave", "Sunny", "Swift", "Gentle", "Clever", "Lucky"]
ANIMALS = ["Wolf", "Fox", "Owl", "Bear", "Lynx", "Heron", "Otter", "Hare", "Crane"]
DOMAINS = ["gmail.com", "wp.pl", "onet.pl", "o2.pl", "interia.pl", "outlook.com", "example.com"]
WORDS = (  # noqa: SIM905 -- a sentence reads better than 120 quoted words
    "dzień dobry proszę o pomoc zamówienie paczka dostawa kurier faktura płatność karta "
    "przelew zwrot wymiana rozmiar kolor produkt sklep konto hasło logowanie adres telefon "
    "kiedy gdzie dlaczego czy można dziękuję bardzo pozdrawiam jutro dzisiaj wczoraj "
    "hello please help order parcel delivery courier invoice payment card transfer refund "
    "exchange size colour product shop account password login address phone when where "
    "why can thanks very much regards tomorrow today yesterday status tracking number "
    "the a is my your we you it not yet still already ok great sure sorry problem issue"
).split()
CLOSED_TYPES = ["solved", "solved", "solved", "abandoned", "transferred", "timeout"]

# The searched transcript word, put in about 1 message in 500. Searched as
# written, so that the icontains baseline finds the same conversations (the
# indexed search would also find it typed without the diacritic).
RARE_WORD, RARE_WORD_EVERY = "reklamację", 500


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    # A p95 of thirty requests is their second slowest: it moved by a third
    # between runs on the same data. A hundred give a steadier one.
    parser.add_argument("--repeats", type=int, default=100, help="timed requests per search")
    parser.add_argument(
        "--baseline-repeats", type=int, default=10, help="timed icontains requests per search"
    )
    parser.add_argument("--rebuild", action="store_true", help="refill even if the size matches")
    parser.add_argument("--seed", type=int, default=20261128)
    return parser.parse_args()


def ensure_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    server = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(server, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if exists.fetchone() is None:
            connection.execute(f'CREATE DATABASE "{name}"')


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    # Persistent connections, as a deployment would run (the default, 0, opens
    # a new connection per request and would time connection set-up too).
    os.environ.setdefault("DATABASE_CONN_MAX_AGE", "60")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "closerarchive.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


# --- Building the archive -------------------------------------------------------------


def fill(messages: int, seed: int) -> dict[str, int]:
    """COPY customers, advisers, conversations and messages; fill the
    conversations' transcript documents; rebuild the search indexes."""
    from django.db import connection

    rng = random.Random(seed)
    search_sql = importlib.import_module("conversations.migrations.0002_search_indexes")
    transcript_sql = importlib.import_module(
        "conversations.migrations.0006_conversation_transcript_search"
    )
    # 0002 as it stands after 0006: the per-message index is gone, and 0006
    # fills conversation.transcript_search (needs 0002's closer_unaccent) and
    # indexes it.
    build = [
        *(s for s in search_sql.FORWARD if "message_text_search_idx" not in s),
        *transcript_sql.FORWARD,
    ]
    conversations = messages // 10
    customers = max(conversations * 6 // 10, 1)
    advisers = 40
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE conversations_message, conversations_conversation, "
            "conversations_conversationevent, conversations_customer, conversations_adviser "
            "RESTART IDENTITY CASCADE"
        )
        # Index after loading: far faster than keeping GIN indexes up to date row by row.
        for statement in [*search_sql.BACKWARD, "DROP INDEX IF EXISTS conversation_transcript_idx"]:
            cursor.execute(statement)
    raw = connection.connection  # the psycopg connection, for COPY
    started = time.perf_counter()
    with raw.cursor() as cursor:
        copy_rows(cursor, "conversations_customer", CUSTOMER_COLUMNS, customer_rows(customers))
        copy_rows(cursor, "conversations_adviser", ADVISER_COLUMNS, adviser_rows(advisers))
        copy_rows(
            cursor,
            "conversations_conversation",
            CONVERSATION_COLUMNS,
            conversation_rows(conversations, customers, advisers, rng),
        )
        copy_rows(
            cursor,
            "conversations_message",
            MESSAGE_COLUMNS,
            message_rows(messages, conversations, rng),
        )
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '256MB'")
        for statement in build:
            cursor.execute(statement)
        # The fill rewrote every conversation row: compact the table, as an
        # archive built by the normaliser (documents written with the rows)
        # would be, so neither search nor the icontains baseline reads dead pages.
        cursor.execute("VACUUM FULL conversations_conversation")
        cursor.execute("VACUUM ANALYZE")
    indexed = time.perf_counter() - started
    print(f"loaded in {loaded:.0f} s, indexed and analysed in {indexed:.0f} s", flush=True)
    return {"customers": customers, "advisers": advisers, "conversations": conversations}


def copy_rows(cursor: Any, table: str, columns: list[str], rows: Iterator[tuple[Any, ...]]) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    print(f"  {table}: copied", flush=True)


NOW = datetime(2026, 11, 1, tzinfo=UTC)
CUSTOMER_COLUMNS = [
    "id", "closer_id", "api_key", "first_name", "last_name", "random_name", "email", "phone",
    "field_times", "created_at", "updated_at",
]  # fmt: skip
ADVISER_COLUMNS = [
    "id", "closer_id", "first_name", "last_name", "email", "is_bot", "field_times",
    "created_at", "updated_at",
]  # fmt: skip
CONVERSATION_COLUMNS = [
    "id", "customer_id", "assignee_id", "closer_id", "status", "closed_type", "opened_at",
    "closed_at", "created_event_ms", "closed_event_ms", "created_event_missing",
    "visitor_context", "message_count", "preview", "created_at", "updated_at",
]  # fmt: skip
MESSAGE_COLUMNS = [
    "id", "conversation_id", "author_role", "author_closer_id", "author_email",
    "author_phone", "text", "sent_at", "fingerprint",
]  # fmt: skip


def customer_name(i: int) -> tuple[str, str]:
    return FIRST_NAMES[i % len(FIRST_NAMES)], LAST_NAMES[(i // len(FIRST_NAMES)) % len(LAST_NAMES)]


def ascii_lower(text: str) -> str:
    return text.lower().translate(str.maketrans("ąćęłńóśźż", "acelnoszz"))


def customer_rows(count: int) -> Iterator[tuple[Any, ...]]:
    for i in range(1, count + 1):
        first, last = customer_name(i)
        alias = f"{ADJECTIVES[i % len(ADJECTIVES)]} {ANIMALS[i % len(ANIMALS)]}"
        email = f"{ascii_lower(first)}.{ascii_lower(last)}{i}@{DOMAINS[i % len(DOMAINS)]}"
        phone = f"+48 5{i % 100:02d} {i % 1000:03d} {(i * 7) % 1000:03d}"
        yield (i, f"cust-{i:08d}", "", first, last, alias, email, phone, "{}", NOW, NOW)


# Forty advisers with distinct first names (none shared with customers).
ADVISER_FIRST_NAMES = [
    "Zofia", "Marek", "Julia", "Adam", "Ola", "Tom", "Lucy", "Ben", "Iga", "Igor", "Nina",
    "Olek", "Hanna", "Kacper", "Maja", "Filip", "Lena", "Szymon", "Alicja", "Wiktor",
    "Zuzanna", "Antoni", "Helena", "Jan", "Maria", "Leon", "Pola", "Tymon", "Ida", "Bruno",
    "Ruby", "Noah", "Ella", "Leo", "Mia", "Max", "Zoe", "Sam", "Eva", "Dan",
]  # fmt: skip
ADVISER_LAST_NAMES = ["Wąsowska", "Lis", "Sowa", "Wilk", "Kruk", "Baker", "Grant", "Hart"]


def adviser_rows(count: int) -> Iterator[tuple[Any, ...]]:
    for i in range(1, count + 1):
        first = ADVISER_FIRST_NAMES[(i - 1) % len(ADVISER_FIRST_NAMES)]
        last = ADVISER_LAST_NAMES[(i - 1) % len(ADVISER_LAST_NAMES)]
        is_bot = i > count - 4
        email = f"{ascii_lower(first)}.{ascii_lower(last)}@closer.app"
        yield (i, f"adviser-{i:04d}", first, last, email, is_bot, "{}", NOW, NOW)


def conversation_rows(
    count: int, customers: int, advisers: int, rng: random.Random
) -> Iterator[tuple[Any, ...]]:
    for i in range(1, count + 1):
        opened = NOW - timedelta(seconds=rng.randrange(2 * 365 * 86400))
        opened_ms = int(opened.timestamp() * 1000) * 1000 + i % 1000  # unique per customer
        is_open = i % 40 == 0
        assignee = None if i % 10 == 0 else rng.randrange(1, advisers + 1)
        yield (
            i,
            rng.randrange(1, customers + 1),
            assignee,
            "",
            "open" if is_open else "closed",
            "" if is_open else rng.choice(CLOSED_TYPES),
            opened,
            None if is_open else opened + timedelta(minutes=rng.randrange(5, 90)),
            opened_ms,
            None if is_open else opened_ms + 1,
            False,
            '{"currentPage": "https://shop.example/cart", "browserName": "Firefox"}',
            10,
            "Dzień dobry, mam pytanie o zamówienie",
            NOW,
            NOW,
        )


def message_rows(count: int, conversations: int, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    per_conversation = count // conversations
    for i in range(count):
        conversation = min(i // per_conversation + 1, conversations)
        customer_turn = i % 2 == 0
        words = rng.choices(WORDS, k=rng.randrange(4, 16))
        if i % RARE_WORD_EVERY == 7:
            words.insert(rng.randrange(len(words)), RARE_WORD)
        yield (
            i + 1,
            conversation,
            "CUSTOMER" if customer_turn else "ADVISER",
            "" if customer_turn else "adviser",
            "",
            "",
            " ".join(words).capitalize() + ".",
            NOW - timedelta(seconds=count - i),
            hashlib.sha256(str(i).encode()).hexdigest(),
        )


# --- Timing -------------------------------------------------------------------------


def time_calls(
    call: Callable[[], Any], repeats: int, cpu: list[float] | None = None
) -> list[float]:
    """Wall-clock ms of each call; with ``cpu``, also this process's CPU ms
    (Django's share of a page: PostgreSQL's work is in its own processes),
    which a busy shared machine inflates far less than wall-clock time."""
    call()  # warm caches and connections; not timed
    timings = []
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        call()
        timings.append((time.perf_counter() - started) * 1000)
        if cpu is not None:
            cpu.append((time.process_time() - started_cpu) * 1000)
    return timings


def time_interleaved(
    first: Callable[[], Any], second: Callable[[], Any], repeats: int, cpu: list[float]
) -> tuple[list[float], list[float]]:
    """``time_calls`` of two calls taking turns, so that both see the same
    load; ``cpu`` collects the first's CPU ms."""
    first(), second()  # warm caches and connections; not timed
    first_ms: list[float] = []
    second_ms: list[float] = []
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        first()
        first_ms.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        started = time.perf_counter()
        second()
        second_ms.append((time.perf_counter() - started) * 1000)
    return first_ms, second_ms


def report(label: str, query: str, found: Any, indexed: list[float], scan: list[float]) -> None:
    ratio_50 = statistics.median(scan) / statistics.median(indexed)
    ratio_95 = p95(scan) / p95(indexed)
    print(
        f"{label:<26}{query:<15}{found:>7}{statistics.median(indexed):>9.1f}"
        f"{p95(indexed):>9.1f}{statistics.median(scan):>10.0f}{p95(scan):>10.0f}"
        f"{ratio_50:>7.1f}x{ratio_95:>7.1f}x",
        flush=True,
    )


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    args = parse_args()
    ensure_database(args.database_url)
    setup_django(args.database_url)

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    from admin_speed.paginators import LargeTablePaginator
    from conversations import admin as conversations_admin
    from conversations import selectors
    from conversations.admin import ConversationAdmin
    from conversations.models import Conversation, Message

    if args.rebuild or Message.objects.count() != args.messages:
        print(f"building an archive of {args.messages:,} messages ...", flush=True)
        fill(args.messages, args.seed)
    else:
        print(f"reusing the archive of {args.messages:,} messages", flush=True)

    # Timed as deployed: DEBUG off (so Django's cached template loader and no
    # query log), persistent connections (setup_django), one warm-up request.
    assert not settings.DEBUG, "run the bench with DEBUG off"
    user_model = get_user_model()
    user = user_model.objects.filter(username="bench").first() or (
        user_model.objects.create_superuser("bench", "bench@example.com", None)
    )
    client = Client()
    client.force_login(user)
    changelist = reverse("admin:conversations_conversation_changelist")

    searches = [
        ("transcript word", RARE_WORD),
        ("customer email fragment", "nowak2700"),
        ("adviser name", "Zofia"),
    ]
    load = os.getloadavg()[0]
    print(
        f"\n{args.messages:,} messages; indexed x{args.repeats}, icontains x"
        f"{args.baseline_repeats}; load average {load:.1f} on {os.cpu_count()} CPUs"
    )
    header = f"{'search':<26}{'query':<15}{'found':>7}{'p50 ms':>9}{'p95 ms':>9}"
    header += f"{'scan p50':>10}{'scan p95':>10}{'p50 x':>8}{'p95 x':>8}"
    timings: dict[str, tuple[Any, list[float], list[float]]] = {}
    sql_timings: dict[str, tuple[list[float], list[float]]] = {}
    cpu: dict[str, list[float]] = {}
    snippet_timings: dict[str, tuple[list[float], list[float]]] = {}
    for label, query in searches:
        found = selectors.search_conversations(query=query).count()

        def page(query: str = query) -> None:
            response = client.get(changelist, {"q": query})
            assert response.status_code == 200, response.status_code

        def sql(query: str = query) -> None:
            # What the search costs the changelist in SQL: its count and its first page.
            rows = Conversation.objects.select_related("customer", "assignee")
            rows = rows.only(*ConversationAdmin.list_only)  # as the page loads them
            paginator = LargeTablePaginator(
                selectors.search_conversations(query=query, queryset=rows), 50
            )
            list(paginator.page(1).object_list)

        def page_without_snippets(query: str = query) -> None:
            # The same page, its "why it matched" column left to the preview.
            with mock.patch.object(conversations_admin, "search_matches", lambda **kwargs: {}):
                page(query)

        cpu[label] = []
        indexed, plain = time_interleaved(page, page_without_snippets, args.repeats, cpu[label])
        snippet_timings[label] = (indexed, plain)
        indexed_sql = time_calls(sql, args.repeats)
        # The same page with the search's SQLite path: plain icontains, no
        # indexes. The scan keeps PostgreSQL's parallel workers, which speed a
        # scan up (the indexed id list is planned without them: serial_plan).
        with (
            mock.patch.object(selectors, "uses_search_indexes", lambda queryset: False),
            mock.patch.object(LargeTablePaginator, "serial_id_list", False),
        ):
            assert selectors.search_conversations(query=query).count() == found
            scan = time_calls(page, args.baseline_repeats)
            scan_sql = time_calls(sql, args.baseline_repeats)
        timings[label] = (found, indexed, scan)
        sql_timings[label] = (indexed_sql, scan_sql)
        print(f"  timed: {label}", flush=True)

    print("\nadmin changelist request (GET ?q=..., logged-in superuser, rendered page)")
    print(header)
    for label, query in searches:
        found, indexed, scan = timings[label]
        report(label, query, found, indexed, scan)
    cpu["no search (first page)"] = []
    unfiltered = time_calls(
        lambda: client.get(changelist), args.repeats, cpu["no search (first page)"]
    )
    print(
        f"{'no search (first page)':<26}{'':<15}{'':>7}{statistics.median(unfiltered):>9.1f}"
        f"{p95(unfiltered):>9.1f}"
    )
    print("\nwhat the snippets cost: the page with and without them, interleaved")
    print(f"{'search':<26}{'query':<15}{'p50 ms':>9}{'p95 ms':>9}{'without':>9}{'without':>9}")
    print(f"{'':<41}{'':>9}{'':>9}{'p50 ms':>9}{'p95 ms':>9}{'p95 x':>8}")
    for label, query in searches:
        with_them, without = snippet_timings[label]
        print(
            f"{label:<26}{query:<15}{statistics.median(with_them):>9.1f}{p95(with_them):>9.1f}"
            f"{statistics.median(without):>9.1f}{p95(without):>9.1f}"
            f"{p95(with_them) / p95(without):>7.2f}x"
        )
    print("\nthe search's SQL alone (capped count + first page of 50)")
    print(header)
    for label, query in searches:
        indexed_sql, scan_sql = sql_timings[label]
        report(label, query, timings[label][0], indexed_sql, scan_sql)

    print("\nDjango's CPU per indexed page (this process's CPU time: ORM and rendering)")
    print(f"{'search':<26}{'query':<15}{'':>7}{'p50 ms':>9}{'p95 ms':>9}{'min ms':>9}")
    for label, query in [*searches, ("no search (first page)", "")]:
        print(
            f"{label:<26}{query:<15}{'':>7}{statistics.median(cpu[label]):>9.1f}"
            f"{p95(cpu[label]):>9.1f}{min(cpu[label]):>9.1f}"
        )


if __name__ == "__main__":
    main()
