"""The date hierarchy's years: the loose index scan against the queries it replaced.

The conversation changelist offers the years that have conversations
(``selectors.opened_years``: one probe of ``conversation_opened_idx`` per
year). This times it on an archive of --conversations rows spread over
twelve years with three empty ones, in interleaved rounds on the same data,
against:

- the first and last opening (MIN/MAX, two index probes): what the page read
  before, when it offered every year between them, empty or not;
- ``dates("opened_at", "year")``: Django's own DISTINCT over every row (what
  the selector does on SQLite).

    python bench/date_years.py                          # 1,000,000 conversations
    python bench/date_years.py --conversations 200000   # quicker

The database (--database-url, default .../ca_years_bench) is created when
missing and refilled when it holds another number of conversations. The
admin reads the years through the cache, once a minute at most; this times
the query itself.
"""

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.archive import ensure_database, setup_django

YEARS_WITH_CONVERSATIONS = [y for y in range(2015, 2027) if y not in (2017, 2018, 2021)]


def fill(conversations: int) -> None:
    from django.db import connection

    from conversations.models import Conversation

    if Conversation.objects.count() == conversations:
        return
    years = "ARRAY[" + ",".join(map(str, YEARS_WITH_CONVERSATIONS)) + "]"
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE conversations_conversation, conversations_customer CASCADE")
        cursor.execute(
            "INSERT INTO conversations_customer (closer_id, api_key, first_name, last_name,"
            " random_name, email, phone, field_times, created_at, updated_at)"
            " VALUES ('bench', '', '', '', '', '', '', '{}', now(), now())"
        )
        # Each row in one of the years, at a pseudo-random moment of it.
        cursor.execute(
            f"""
            INSERT INTO conversations_conversation (customer_id, closer_id, status,
                closed_type, opened_at, closed_at, created_event_ms, closed_event_ms,
                created_event_missing, visitor_context, message_count, preview,
                created_at, updated_at)
            SELECT (SELECT id FROM conversations_customer), '', 'open', '',
                make_timestamptz(({years})[1 + n %% {len(YEARS_WITH_CONVERSATIONS)}], 1, 1, 0, 0, 0,
                    'UTC') + ((n::bigint * 7919) %% 31536000) * interval '1 second',
                NULL, n, NULL, false, '{{}}', 0, '', now(), now()
            FROM generate_series(1, %s) AS n
            """,
            [conversations],
        )
        cursor.execute("VACUUM ANALYZE conversations_conversation")


def time_once(function: Callable[[], Any], rounds: list[float]) -> None:
    started = time.perf_counter()
    function()
    rounds.append((time.perf_counter() - started) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/ca_years_bench"
    )
    parser.add_argument("--conversations", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    ensure_database(args.database_url)
    setup_django(args.database_url)
    from django.db import connection
    from django.db.models import Max, Min

    from conversations import selectors
    from conversations.models import Conversation

    fill(args.conversations)
    connection.autocommit = True
    candidates: dict[str, Callable[[], Any]] = {
        "years (loose index scan)": selectors.opened_years,
        "first/last (MIN/MAX, before)": lambda: Conversation.objects.aggregate(
            Min("opened_at"), Max("opened_at")
        ),
        "dates() DISTINCT (Django)": lambda: list(
            Conversation.objects.order_by().dates("opened_at", "year")
        ),
    }
    assert selectors.opened_years() == YEARS_WITH_CONVERSATIONS, selectors.opened_years()
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(args.rounds):  # interleaved: a busy moment hits all three alike
        for name, function in candidates.items():
            time_once(function, times[name])
    baseline = statistics.median(times["first/last (MIN/MAX, before)"])
    print(f"{args.conversations:,} conversations, {args.rounds} interleaved rounds, median:")
    for name, rounds in times.items():
        ms = statistics.median(rounds)
        print(f"  {name:<30} {ms:9.2f} ms   {ms / baseline:8.1f}x the MIN/MAX")


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "closerarchive.settings")
    main()
