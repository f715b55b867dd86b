"""The benches' archive: built once by COPY, reproducibly, and reused.

    python bench/archive.py --messages 10000000   # ca_scale_10m (500,000 x 20)
    python bench/archive.py --messages 1000000    # ca_scale_1m (50,000 x 20)
    python bench/archive.py --messages 1000000 --rebuild

An archive of N messages is N / 20 conversations of 20 messages, opened over
four years (ids rise with the opening time, as in an archive filled as it
happened), by N / 100 customers, with 40 advisers of whom 4 are bots. The
text is Polish and English with diacritics, drawn with a fixed seed:

- common words in nearly every conversation: each opens with a greeting and
  most close with the bilingual sign-off ``CLOSING`` ("dziękuję", "order");
- everyday words drawn by a Zipf law, so a few are in most conversations;
- rare words: ``RARE_WORD`` in about one message in 500 and ``RAREST_WORD``
  in one in 50,000; order numbers, unique almost everywhere;
- customer emails such as ``anna.nowak2700@wp.pl`` (rare fragments) and
  adviser names (``ADVISER_FIRST_NAMES``).

Conversations are written as the normaliser writes them
(``conversations.services``): preview and message count from ``summarise``,
the transcript's search document by ``TRANSCRIPT_DOCUMENT`` in the INSERT
that creates the row. Secondary indexes are dropped during the load and
recreated afterwards from their own definitions (``pg_indexes``), which is
what they would be had they been kept up to date row by row.

The build parameters are recorded in the table ``bench_archive``; a later
run with the same parameters reuses the database, a different one (or
``--rebuild``) drops and rebuilds it.
"""

import argparse
import hashlib
import json
import os
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.archive_text import (
    ADVISER_FIRST_NAMES,
    ADVISER_LAST_NAMES,
    BOT_NAMES,
    CLOSED_TYPES,
    NOW,
    ascii_lower,
    conversation_messages,
    customer_rows,
)

SERVER_URL = "postgres://postgres@127.0.0.1:5432"
PER_CONVERSATION = 20
ADVISERS, BOTS = 40, 4
YEARS = 4
SEED = 20261207
BATCH = 5_000  # conversations per transaction
# Bump when the generated data changes: archives of an older version are rebuilt.
VERSION = 2
DATABASES = {10_000_000: "ca_scale_10m", 1_000_000: "ca_scale_1m"}
TABLES = ("customer", "adviser", "conversation", "message")


@dataclass(frozen=True)
class Archive:
    messages: int
    conversations: int
    customers: int
    database: str
    advisers: int = ADVISERS
    bots: int = BOTS
    seed: int = SEED
    version: int = VERSION

    @property
    def url(self) -> str:
        return f"{SERVER_URL}/{self.database}"


def archive_for(messages: int, database: str | None = None) -> Archive:
    conversations = max(messages // PER_CONVERSATION, 1)
    return Archive(
        messages=conversations * PER_CONVERSATION,
        conversations=conversations,
        customers=max(conversations // 5, 1),
        database=database or DATABASES.get(messages, f"ca_scale_{messages}"),
    )


def open_archive(messages: int, *, database: str | None = None, rebuild: bool = False) -> Archive:
    """The archive of ``messages`` messages, built if missing, different or
    ``rebuild``; Django is then set up on it (DATABASE_URL) and migrated."""
    archive = archive_for(messages, database)
    recorded = recorded_parameters(archive)
    if rebuild or recorded != asdict(archive):
        why = "rebuild asked" if rebuild else "none recorded" if recorded is None else "changed"
        print(f"building {archive.database} ({why}): {archive}", flush=True)
        recreate_database(archive)
        setup_django(archive.url)
        build(archive)
    else:
        print(f"reusing {archive.database}: {archive.messages:,} messages", flush=True)
        setup_django(archive.url)
    return archive


def recorded_parameters(archive: Archive) -> dict[str, Any] | None:
    try:
        with psycopg.connect(archive.url) as connection:
            row = connection.execute("SELECT parameters FROM bench_archive").fetchone()
    except (psycopg.OperationalError, psycopg.errors.UndefinedTable):
        return None
    return row[0] if row else None


def ensure_database(url: str) -> None:
    """Create the database of ``url`` if it is missing (for benches of their own data)."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if exists.fetchone() is None:
            connection.execute(f'CREATE DATABASE "{name}"')


def recreate_database(archive: Archive) -> None:
    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{archive.database}"')
        connection.execute(f'CREATE DATABASE "{archive.database}"')


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


# --- Building -------------------------------------------------------------------------


def build(archive: Archive) -> None:
    from django.db import connection
    from tqdm import tqdm

    started = time.perf_counter()
    rng = random.Random(archive.seed)
    with connection.cursor() as cursor:
        indexes = drop_secondary_indexes(cursor)
        copy(cursor, "conversations_customer", CUSTOMER_COLUMNS, customer_rows(archive.customers))
        copy(cursor, "conversations_adviser", ADVISER_COLUMNS, adviser_rows())
    with tqdm(
        total=archive.conversations, unit=" conv", desc="conversations", mininterval=5
    ) as bar:
        for first in range(1, archive.conversations + 1, BATCH):
            last = min(first + BATCH - 1, archive.conversations)
            load_batch(archive, first, last, rng)
            bar.update(last - first + 1)
    print(f"loaded in {time.perf_counter() - started:.0f} s; indexing ...", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for _name, definition in tqdm(indexes, desc="indexes"):
            cursor.execute(definition)
        for table in TABLES:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('conversations_{table}', 'id'), "
                f"(SELECT max(id) FROM conversations_{table}))"
            )
        cursor.execute("VACUUM ANALYZE")
        cursor.execute(
            "CREATE TABLE bench_archive (parameters jsonb NOT NULL, built_at timestamptz)"
        )
        cursor.execute(
            "INSERT INTO bench_archive VALUES (%s, now())", [json.dumps(asdict(archive))]
        )
    print(f"built {archive.database} in {time.perf_counter() - started:.0f} s", flush=True)


def drop_secondary_indexes(cursor: Any) -> list[tuple[str, str]]:
    """Drop the archive tables' indexes that back no constraint; return their
    definitions to recreate after the load."""
    cursor.execute(
        """
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.schemaname = 'public' AND i.tablename = ANY(%s)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
        ORDER BY i.indexname
        """,
        [[f"conversations_{table}" for table in TABLES]],
    )
    indexes = list(cursor.fetchall())
    for name, _ in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    return indexes


def load_batch(archive: Archive, first: int, last: int, rng: random.Random) -> None:
    """Conversations ``first``..``last`` and their messages, in one transaction:
    conversations through a staging table into the normaliser's INSERT."""
    from django.db import connection, transaction

    from conversations.services.transcripts import TRANSCRIPT_DOCUMENT, summarise

    conversations, messages = [], []
    for number in range(first, last + 1):
        conversation, lines = conversation_with_messages(archive, number, rng)
        summary = summarise([(line[2], line[6]) for line in lines])
        conversations.append(
            (*conversation, summary.message_count, summary.preview, summary.document_text)
        )
        messages.extend(lines)
    columns = ", ".join(CONVERSATION_COLUMNS)
    with transaction.atomic(), connection.cursor() as cursor:
        # Foreign keys hold by construction; their per-row checks would double the load.
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("DROP TABLE IF EXISTS bench_stage")
        cursor.execute(
            f"CREATE TEMPORARY TABLE bench_stage ON COMMIT DROP AS "
            f"SELECT {columns}, NULL::text AS transcript_text FROM conversations_conversation "
            f"WITH NO DATA"
        )
        copy(cursor, "bench_stage", [*CONVERSATION_COLUMNS, "transcript_text"], iter(conversations))
        document = TRANSCRIPT_DOCUMENT.format(text="transcript_text")
        # Created and last changed when its closed event was archived.
        cursor.execute(
            f"INSERT INTO conversations_conversation ({columns}, transcript_search, created_at, "
            f"updated_at) SELECT {columns}, {document}, closed_at, closed_at FROM bench_stage "
            f"ORDER BY id"
        )
        copy(cursor, "conversations_message", MESSAGE_COLUMNS, iter(messages))


def copy(cursor: Any, table: str, columns: list[str], rows: Iterator[tuple[Any, ...]]) -> None:
    with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as writer:
        for row in rows:
            writer.write_row(row)


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
    "visitor_context", "message_count", "preview",
]  # fmt: skip
MESSAGE_COLUMNS = [
    "id", "conversation_id", "author_role", "author_closer_id", "author_email",
    "author_phone", "text", "sent_at", "fingerprint",
]  # fmt: skip


def adviser_closer_id(number: int) -> str:
    return f"adviser-{number:04d}"


def adviser_rows() -> Iterator[tuple[Any, ...]]:
    """36 people with distinct first names, then 4 bots."""
    for number in range(1, ADVISERS + 1):
        if number > ADVISERS - BOTS:
            first, last = BOT_NAMES[number - (ADVISERS - BOTS) - 1], "Bot"
        else:
            first = ADVISER_FIRST_NAMES[number - 1]
            last = ADVISER_LAST_NAMES[number % len(ADVISER_LAST_NAMES)]
        email = f"{ascii_lower(first)}.{ascii_lower(last)}@closer.app"
        is_bot = number > ADVISERS - BOTS
        yield (number, adviser_closer_id(number), first, last, email, is_bot, "{}", NOW, NOW)


HUMANS = range(1, ADVISERS - BOTS + 1)
BOT_IDS = range(ADVISERS - BOTS + 1, ADVISERS + 1)
SPAN = timedelta(days=365 * YEARS)
CONTEXT = '{"currentPage": "https://sklep.example/koszyk", "browserName": "Firefox"}'


def conversation_with_messages(
    archive: Archive, number: int, rng: random.Random
) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    """Conversation ``number`` (opened in id order over ``YEARS``, give or
    take a day) and its 20 messages: customer and adviser in turn; one in
    five starts with a bot that hands over, one in ten is a bot's alone."""
    opened = NOW - SPAN + SPAN * (number / archive.conversations)
    opened -= timedelta(seconds=rng.randrange(86_400))
    opened_ms = int(opened.timestamp() * 1000)
    kind = rng.random()
    bot = BOT_IDS[number % BOTS]
    assignee = bot if kind < 0.1 else rng.choice(HUMANS)
    handover_lines = 5 if 0.1 <= kind < 0.3 else 0
    polish = rng.random() < 0.65
    texts = conversation_messages(rng, polish=polish, lines=PER_CONVERSATION)
    sent = opened + timedelta(seconds=rng.randrange(1, 30))
    first_id = (number - 1) * PER_CONVERSATION
    lines = []
    for line, text in enumerate(texts):
        customer_turn = line % 2 == 0
        author = (
            "" if customer_turn else adviser_closer_id(bot if line < handover_lines else assignee)
        )
        message_id = first_id + line + 1
        lines.append(
            (
                message_id,
                number,
                "CUSTOMER" if customer_turn else "ADVISER",
                author,
                "",
                "",
                text,
                sent,
                hashlib.sha256(str(message_id).encode()).hexdigest(),
            )
        )
        sent += timedelta(seconds=rng.randrange(5, 240))
    closed_ms = int(sent.timestamp() * 1000)
    conversation = (
        number,
        rng.randrange(1, archive.customers + 1),
        assignee,
        "",
        "closed",
        rng.choice(CLOSED_TYPES),
        opened,
        sent,
        opened_ms,
        closed_ms,
        False,
        CONTEXT,
    )
    return conversation, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--database", help="default: ca_scale_1m / ca_scale_10m")
    parser.add_argument("--rebuild", action="store_true", help="rebuild even if it matches")
    args = parser.parse_args()
    open_archive(args.messages, database=args.database, rebuild=args.rebuild)


if __name__ == "__main__":
    main()
