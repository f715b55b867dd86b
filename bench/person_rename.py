"""What a rename costs: an adviser with --conversations conversations renamed
by a webhook, against the same webhook repeating the adviser's details.

A changed customer or adviser detail bumps ``updated_at`` of every
conversation of that person in the batch's transaction (one UPDATE,
``conversations.services.people``), so that ``?updated_since=`` sends them
again. This times ``apply_events`` of one closed event (a new customer's
conversation, handled by the busy adviser), in interleaved rounds:

- baseline: the adviser's details as stored: nothing is bumped;
- rename: the adviser's first name changed: all their conversations are.

    python bench/person_rename.py                      # 100,000 conversations
    python bench/person_rename.py --conversations 20000 --rounds 3

The archive is built with SQL in its own database (--database, default
ca_rename_bench; created, migrated and filled when missing or --rebuild):
one adviser holding every conversation, five conversations a customer, each
with a ten-message transcript's search document (the GIN index is updated
by the bump too). Tables are vacuumed between runs, outside the timing.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG = "postgres://postgres@127.0.0.1:5432"
ADVISER = "adviser-busy"
TRANSCRIPT = (
    "Hello, I have a question about my order. Sure, could you give me the order number? "
    "It is {n}, placed last Tuesday, zamówienie nie dotarło. Thanks! I can see it left our "
    "warehouse on Friday. When will it arrive? I need it before the weekend. The carrier "
    "says out for delivery today, between 14:00 and 18:00. Great, thank you so much. "
    "Anything else I can help you with? No, that's all. Have a nice day!"
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database", default="ca_rename_bench")
    parser.add_argument("--rebuild", action="store_true")
    return parser.parse_args()


def ensure_database(name: str, conversations: int, rebuild: bool) -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and not rebuild:
            with psycopg.connect(f"{PG}/{name}") as db:
                row = db.execute(
                    "SELECT count(*) FROM conversations_conversation c"
                    " JOIN conversations_adviser a ON a.id = c.assignee_id"
                    " WHERE a.closer_id = %s",
                    [ADVISER],
                ).fetchone()
            if row and row[0] >= conversations:
                return
        if exists:
            admin.execute(f'DROP DATABASE "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": f"{PG}/{name}"},
        check=True,
    )
    started = time.perf_counter()
    customers = max(1, conversations // 5)
    with psycopg.connect(f"{PG}/{name}") as db:
        db.execute(
            "INSERT INTO conversations_adviser (closer_id, first_name, last_name, email,"
            " is_bot, field_times, created_at, updated_at)"
            " VALUES (%s, 'Bob', 'Holmes', 'bob.holmes@closer.app', false, '{}', now(), now())",
            [ADVISER],
        )
        db.execute(
            "INSERT INTO conversations_customer (closer_id, api_key, first_name, last_name,"
            " random_name, email, phone, field_times, created_at, updated_at)"
            " SELECT 'customer-' || n, '', 'First' || n, 'Last' || n, 'Alias ' || n,"
            " 'customer' || n || '@example.com', '+48' || n, '{}', now(), now()"
            " FROM generate_series(1, %s) AS n",
            [customers],
        )
        db.execute(
            "INSERT INTO conversations_conversation (customer_id, assignee_id, closer_id, status,"
            " closed_type, opened_at, closed_at, created_event_ms, closed_event_ms,"
            " created_event_missing, visitor_context, message_count, preview,"
            " transcript_search, created_at, updated_at)"
            " SELECT cu.id, a.id, '', 'closed', 'solved',"
            " timestamptz '2024-01-01' + n * interval '1 minute',"
            " timestamptz '2024-01-01' + n * interval '1 minute' + interval '200 seconds',"
            " NULL, 1704067200000 + n::bigint * 60000, false, '{}', 10, 'Hello, I have a question',"
            " to_tsvector('simple', replace(%s, '{n}', n::text)), now(), now()"
            " FROM generate_series(1, %s) AS n"
            " JOIN conversations_customer cu ON cu.closer_id = 'customer-' || (n %% %s + 1)"
            " CROSS JOIN conversations_adviser a WHERE a.closer_id = %s",
            [TRANSCRIPT, conversations, customers, ADVISER],
        )
    vacuum(name)
    print(f"built {conversations:,} conversations in {time.perf_counter() - started:.1f}s")


def vacuum(name: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG}/{name}", autocommit=True) as db:
        db.execute("VACUUM ANALYZE conversations_conversation")
        db.execute("VACUUM ANALYZE conversations_adviser")


def closed_event(customer_id: str, timestamp: int, adviser_first_name: str) -> dict:
    from tests.builders import closed_event as build

    event = build(customer_id, timestamp)
    event["assignee"].update(id=ADVISER, firstName=adviser_first_name)
    return event


def main() -> None:
    args = parse_args()
    ensure_database(args.database, args.conversations, args.rebuild)
    os.environ["DATABASE_URL"] = f"{PG}/{args.database}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "closerarchive.settings")
    import django

    django.setup()
    from conversations.models import Adviser, Conversation
    from conversations.services import IncomingEvent, apply_events

    held = Conversation.objects.filter(assignee__closer_id=ADVISER).count()
    name = Adviser.objects.get(closer_id=ADVISER).first_name
    stamp = int(time.time() * 1000)
    timings: dict[str, list[float]] = {"baseline": [], "rename": []}
    for round_ in range(args.rounds):
        for kind in ("baseline", "rename"):
            stamp += 1000
            if kind == "rename":
                name = f"Bob{round_}"
            event = closed_event(f"bench-{stamp}", stamp, name)
            started = time.perf_counter()
            apply_events([IncomingEvent(payload=event)])
            timings[kind].append(time.perf_counter() - started)
            vacuum(args.database)
        print(
            f"round {round_ + 1}: baseline {timings['baseline'][-1] * 1000:.0f} ms,"
            f" rename {timings['rename'][-1] * 1000:.0f} ms",
            flush=True,
        )
    baseline = statistics.median(timings["baseline"])
    rename = statistics.median(timings["rename"])
    print(
        f"\none closed event, adviser holding {held:,} conversations, medians of"
        f" {args.rounds} interleaved rounds:\n"
        f"  details unchanged (baseline): {baseline * 1000:8.0f} ms\n"
        f"  adviser renamed (bump):       {rename * 1000:8.0f} ms"
        f"  ({rename / baseline:.0f}x the baseline;"
        f" {(rename - baseline) / held * 1e6:.1f} µs per bumped conversation)"
    )


if __name__ == "__main__":
    main()
