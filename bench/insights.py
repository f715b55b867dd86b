"""Insights at scale: the page on a 1 M-message archive, and what the
metrics add to processing a closed event.

    python bench/insights.py                     # build (or reuse) and time
    python bench/insights.py --messages 200000   # a quicker, smaller run
    python bench/insights.py --rebuild           # drop and refill the data

Builds, in its own database (--database, default ca_insights_bench: the
bench adds conversations to it), bench/archive.py's archive of --messages
messages (20 per conversation, opened over four years, four of the forty
advisers bots), then fills the metrics and roll-ups with
``insights.store.rebuild_all`` (what migration 0009 runs; timed).

Then, in interleaved rounds on the same data:

1. the Insights page (test Client, logged-in superuser, every chart) for
   the last year, the last year for one adviser, and all time; p95 in ms,
   each against the conversation changelist of the same range as baseline;
2. ``apply_events`` of one closed event with 20 messages (a new customer
   each time), with the metrics step as shipped and with it switched off:
   events/s and the added cost in per cent, and the SQL statements of each.
"""

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.archive import open_archive
from bench.archive_text import NOW

DEFAULT_DATABASE = "ca_insights_bench"
PER_CONVERSATION = 20


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=8, help="page loads per round and range")
    parser.add_argument("--events", type=int, default=40, help="events per round and variant")
    parser.add_argument("--rebuild", action="store_true")
    return parser.parse_args()


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    args = parse_args()
    # Its own copy of the archive: the bench adds conversations as it processes events.
    open_archive(args.messages, database=args.database, rebuild=args.rebuild)
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from conversations.insights.store import rebuild_all
    from conversations.models import Conversation, ConversationMetrics
    from conversations.services import IncomingEvent, apply_events
    from tests.builders import closed_event, message

    if not ConversationMetrics.objects.exists():
        started = time.perf_counter()
        rebuild_all()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        print(f"metrics and roll-ups filled (rebuild_all) in {time.perf_counter() - started:.0f} s")
    print(
        f"archive: {Conversation.objects.count():,} conversations, "
        f"{ConversationMetrics.objects.count():,} metrics rows",
        flush=True,
    )

    user = User.objects.filter(username="bench").first() or User.objects.create_superuser(
        "bench", password=None
    )
    client = Client()
    client.force_login(user)
    page = reverse("admin:conversations_conversationmetrics_changelist")
    changelist = reverse("admin:conversations_conversation_changelist")
    year_start = (NOW - timedelta(days=364)).date().isoformat()
    until = NOW.date().isoformat()
    ranges = {
        "one year": {"since": year_start, "until": until},
        "one year, one adviser": {"since": year_start, "until": until, "adviser": "7"},
        "all time": {"range": "all", "until": until},
    }
    baseline = {"opened_at__gte": f"{year_start}T00:00:00Z", "opened_at__lt": f"{until}T00:00:00Z"}
    pages: dict[str, list[float]] = {name: [] for name in ranges}
    lists: list[float] = []
    for name, params in ranges.items():  # warm
        assert client.get(page, params).status_code == 200, name
    for _ in range(args.rounds):
        for _ in range(args.repeats):
            for name, params in ranges.items():
                pages[name].append(timed(lambda p=params: client.get(page, p)))
            lists.append(timed(lambda: client.get(changelist, baseline)))
    list_p95 = p95(lists)
    print(f"\nInsights page, p50 and p95 of {args.rounds * args.repeats} loads (ms)")
    print(f"  {'':<36}{'p50':>8}{'p95':>8}")
    list_p50 = statistics.median(lists)
    print(f"  {'conversation changelist, one year':<36}{list_p50:8.1f}{list_p95:8.1f}  (baseline)")
    for name, values in pages.items():
        print(
            f"  {name:<36}{statistics.median(values):8.1f}{p95(values):8.1f}  "
            f"{p95(values) / list_p95:5.2f}x the changelist (p95)"
        )
    print(f"  load average: {Path('/proc/loadavg').read_text().split()[0]}", flush=True)

    counter = iter(range(10**9))

    def event() -> IncomingEvent:
        n = next(counter)
        customer = f"bench-{os.getpid()}-{n}"
        stamp = int(NOW.timestamp() * 1000) + n * 1000
        history = [
            message(
                "CUSTOMER" if i % 2 == 0 else "ADVISER",
                f"line {i}",
                stamp - 20_000 + i * 500,
                customer if i % 2 == 0 else "adviser-0003",
            )
            for i in range(PER_CONVERSATION)
        ]
        return IncomingEvent(closed_event(customer, stamp, history, adviser_id="adviser-0003"))

    def process(count: int) -> float:
        batch = [event() for _ in range(count)]
        started = time.perf_counter()
        for incoming in batch:
            apply_events([incoming])
        return count / (time.perf_counter() - started)

    with_metrics: list[float] = []
    without: list[float] = []
    process(10)  # warm
    for _ in range(args.rounds):
        with_metrics.append(process(args.events))
        with mock.patch("conversations.services.normaliser.write_metrics", lambda ids: None):
            without.append(process(args.events))
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as shipped_queries:
        apply_events([event()])
    with (
        mock.patch("conversations.services.normaliser.write_metrics", lambda ids: None),
        CaptureQueriesContext(connection) as off_queries,
    ):
        apply_events([event()])
    shipped, off = statistics.median(with_metrics), statistics.median(without)
    print(f"\nA closed event of {PER_CONVERSATION} messages, apply_events, median of rounds")
    print(f"  without the metrics step  {off:8.1f} events/s  (baseline)")
    print(f"  with the metrics step     {shipped:8.1f} events/s  ({(off / shipped - 1):+.1%} time)")
    print(
        f"  SQL statements per event: {len(off_queries.captured_queries)} without, "
        f"{len(shipped_queries.captured_queries)} with (immune to the machine's load)"
    )


if __name__ == "__main__":
    main()
