"""What neutralising CSV cells costs the PostgreSQL export: the messages CSV's
COPY with ``csv_safety``'s rule on its twelve text columns (``_MESSAGE_ROWS``)
against the same rows without it (``_RAW_MESSAGE_ROWS``, the query before
the rule), in interleaved rounds.

    python bench/csv_safety.py [--database ca_rename_bench] [--messages 500000] [--rounds 5]

Uses the database ``bench/person_rename.py`` builds (run that first), and adds
--messages messages spread over its conversations once, one in ten with a
formula lead. The server writes each COPY to /dev/null (a superuser's
server-side COPY): the rule is server work, and relaying the bytes through
Python, the same for both, only added noise.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG = "postgres://postgres@127.0.0.1:5432"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="ca_rename_bench")
    parser.add_argument("--messages", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=5)
    return parser.parse_args()


def fill(db, messages: int) -> None:
    (have,) = db.execute("SELECT count(*) FROM conversations_message").fetchone()
    if have >= messages:
        return
    db.execute(
        "INSERT INTO conversations_message (conversation_id, author_role, author_closer_id,"
        " author_email, author_phone, text, sent_at, fingerprint)"
        " SELECT c.id, CASE WHEN n %% 2 = 0 THEN 'CUSTOMER' ELSE 'ADVISER' END, 'author-' || n,"
        " 'author' || n || '@example.com', '+48' || n,"
        " CASE WHEN n %% 10 = 0 THEN '=SUM(A' || n || ')' ELSE 'Hello, where is my order '"
        " || n || '? It left the warehouse on Friday.' END,"
        " timestamptz '2024-01-01' + n * interval '1 second', md5(n::text)"
        " FROM generate_series(1, %s) AS n"
        " JOIN conversations_conversation c ON c.id = (n %% 100000) + 1",
        [messages - have],
    )
    db.execute("ANALYZE conversations_message")


def copy_seconds(db, query: str) -> float:
    started = time.perf_counter()
    db.execute(f"COPY ({query}) TO '/dev/null' (FORMAT csv, HEADER)")
    return time.perf_counter() - started


def main() -> None:
    args = parse_args()
    os.environ["DATABASE_URL"] = f"{PG}/{args.database}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "closerarchive.settings")
    import django

    django.setup()
    import psycopg

    from conversations import export_sql

    selected = "SELECT id FROM conversations_conversation"
    with_rule = export_sql._MESSAGE_ROWS.replace("__selected__", selected)
    without_rule = export_sql._RAW_MESSAGE_ROWS.replace("__selected__", selected)

    with psycopg.connect(f"{PG}/{args.database}", autocommit=True) as db:
        fill(db, args.messages)
        (count,) = db.execute("SELECT count(*) FROM conversations_message").fetchone()
        timings: dict[str, list[float]] = {"without": [], "with": []}
        for round_ in range(args.rounds):
            for kind, query in (("without", without_rule), ("with", with_rule)):
                timings[kind].append(copy_seconds(db, query))
            print(
                f"round {round_ + 1}: without {timings['without'][-1]:.2f} s,"
                f" with {timings['with'][-1]:.2f} s",
                flush=True,
            )
    without = statistics.median(timings["without"])
    with_ = statistics.median(timings["with"])
    print(
        f"\nmessages CSV by COPY, {count:,} rows, medians of {args.rounds} interleaved rounds:\n"
        f"  without the rule: {without:6.2f} s\n"
        f"  with the rule:    {with_:6.2f} s  ({with_ / without:.2f}x)"
    )


if __name__ == "__main__":
    main()
