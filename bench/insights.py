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
2. the worker (``measure_worker``): closed events of 20 messages stored
   in the inbox and processed by the Celery task's function, in tasks of
   EVENT_BATCH_SIZE and in tasks of one, with the metrics step as shipped
   and with it switched off: events/s, the added cost in per cent, and the
   SQL statements of an event alone.
"""

import argparse
import contextlib
import os
import random
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
    parser.add_argument("--skip-page", action="store_true", help="time the worker only")
    parser.add_argument("--repeats", type=int, default=8, help="page loads per round and range")
    parser.add_argument(
        "--events", type=int, default=40, help="events per round in tasks of one (5x in batches)"
    )
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
    from django.db import connection

    from conversations.insights.store import rebuild_all
    from conversations.models import Conversation, ConversationMetrics

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
    if not args.skip_page:
        measure_page(args)
    measure_worker(args)


def measure_page(args: argparse.Namespace) -> None:
    """The Insights page of three ranges against the changelist, interleaved."""
    from django.contrib.auth.models import User
    from django.test import Client
    from django.urls import reverse

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


def stored_events(count: int, first: int) -> list[int]:
    """``count`` closed events of 20 messages (a new customer each) put in
    the inbox as the webhook view stores them; their ids."""
    from tests.builders import closed_event, message
    from tests.inbox import stored

    ids = []
    for n in range(first, first + count):
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
        ids.append(stored(closed_event(customer, stamp, history, adviser_id="adviser-0003")).pk)
    return ids


def measure_worker(args: argparse.Namespace) -> None:
    """The worker's events/s with the metrics step and with it switched
    off, in interleaved rounds: events stored in the inbox, then processed
    by the Celery task's function (``process_inbound_events``), in tasks of
    ``EVENT_BATCH_SIZE`` ids (a backlog: the first event takes the others
    into its ``apply_events`` batch) and in tasks of one (an idle inbox:
    a batch of one). With the metrics step, each round ends with the
    roll-up refresh Celery beat runs (``refresh_rollups``), timed apart:
    it runs every five minutes, however many events came meanwhile."""
    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from conversations.insights.store import refresh_rollups
    from webhooks.models import EventStatus, InboundEvent
    from webhooks.tasks import process_inbound_events

    # Each round's events in hours of their own, after the page's ranges,
    # and (by a random start) apart from earlier runs' events: a refresh
    # then recomputes this run's hours only.
    start = 10**5 * random.randrange(1, 2000)
    numbers = iter(range(start, start + 10**9, 10**5))
    batch_size = settings.EVENT_BATCH_SIZE
    switched_off = mock.patch("conversations.services.normaliser.write_metrics", lambda ids: None)

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = Path(f"/proc/{cursor.fetchone()[0]}/stat")

    def cpu_seconds() -> float:
        """CPU time of this process and of its PostgreSQL backend (same
        machine): unlike wall time, barely moved by other jobs' load."""
        ticks = sum(int(field) for field in backend.read_text().rsplit(")", 1)[1].split()[11:13])
        return time.process_time() + ticks / os.sysconf("SC_CLK_TCK")

    def run(ids: list[int], task_size: int, metrics: bool) -> tuple[float, float, float]:
        """Seconds to process ``ids``, to refresh the roll-ups after, and
        the CPU seconds of the processing."""
        cpu, started = cpu_seconds(), time.perf_counter()
        for start in range(0, len(ids), task_size):
            process_inbound_events(ids[start : start + task_size])
        processed, cpu = time.perf_counter(), cpu_seconds() - cpu
        if metrics:
            refresh_rollups()
        refreshed = time.perf_counter()
        done = InboundEvent.objects.filter(pk__in=ids, status=EventStatus.PROCESSED).count()
        assert done == len(ids), f"{done} of {len(ids)} events processed"
        return processed - started, refreshed - processed, cpu

    shapes = {
        f"tasks of {batch_size} (a backlog)": (batch_size, args.events * 5),
        "tasks of 1 (an idle inbox)": (1, args.events * 2),
    }
    timings: dict[str, dict[bool, list[tuple[float, float, float]]]] = {
        name: {True: [], False: []} for name in shapes
    }
    for task_size, count in shapes.values():  # warm
        run(stored_events(min(count, 20), next(numbers)), task_size, True)
    for round_number in range(args.rounds):
        for name, (task_size, count) in shapes.items():
            # Alternate which goes first.
            for metrics in (True, False) if round_number % 2 else (False, True):
                ids = stored_events(count, next(numbers))
                with contextlib.nullcontext() if metrics else switched_off:
                    timings[name][metrics].append(run(ids, task_size, metrics))
    print(f"\nWorker, closed events of {PER_CONVERSATION} messages, median of {args.rounds} rounds")
    print("  events/s without the metrics step / with it (the time it adds); CPU ms an event")
    print("  (worker and its PostgreSQL backend, all rounds); the roll-up refresh Celery beat")
    print("  runs every five minutes, timed once after each round with the metrics step:")
    for name, (_, count) in shapes.items():
        off = statistics.median(count / seconds for seconds, _, _ in timings[name][False])
        shipped = statistics.median(count / seconds for seconds, _, _ in timings[name][True])
        refresh = statistics.median(refreshed for _, refreshed, _ in timings[name][True])
        cpu_off, cpu_on = (
            sum(cpu for _, _, cpu in timings[name][metrics]) * 1000 / (count * args.rounds)
            for metrics in (False, True)
        )
        print(
            f"  {name:<28} {off:6.1f} / {shipped:6.1f} events/s ({off / shipped - 1:+.1%} time); "
            f"CPU {cpu_off:.2f} / {cpu_on:.2f} ms ({cpu_on / cpu_off - 1:+.1%}); "
            f"refresh {refresh * 1000:.1f} ms"
        )
    counts = {}
    for metrics in (True, False):
        ids = stored_events(1, next(numbers))
        with (
            contextlib.nullcontext() if metrics else switched_off,
            CaptureQueriesContext(connection) as captured,
        ):
            process_inbound_events(ids)
        counts[metrics] = len(captured.captured_queries)
    print(
        f"  SQL statements for an event alone: {counts[False]} without, {counts[True]} with "
        f"(immune to the machine's load)"
    )
    print(f"  load average: {Path('/proc/loadavg').read_text().split()[0]}", flush=True)


if __name__ == "__main__":
    main()
