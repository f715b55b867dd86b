"""Insights at scale: the page on a 1 M-message archive, and what the
metrics add to processing a closed event.

    python bench/insights.py                     # build (or reuse) and time
    python bench/insights.py --messages 200000   # a quicker, smaller run
    python bench/insights.py --rebuild           # drop and refill the data
    python bench/insights.py --skip-page --events 500 --worker-rounds 30

Builds, in its own database (--database, default ca_insights_bench: the
bench adds conversations to it), bench/archive.py's archive of --messages
messages (20 per conversation, opened over four years, four of the forty
advisers bots), then fills the metrics and roll-ups with
``insights.store.rebuild_all`` (what migration 0009 runs; timed).

Then, on the same data:

1. in interleaved rounds, the Insights page (test Client, logged-in superuser, every chart) for
   the last year, the last year for one adviser, and all time; p95 in ms,
   each against the conversation changelist of the same range as baseline;
2. the worker (``measure_worker``): closed events of 20 messages stored
   in the inbox and processed by the Celery task's function, in tasks of
   EVENT_BATCH_SIZE and in tasks of one, with the metrics step as shipped
   and with it switched off, back to back in --worker-rounds rounds:
   events/s, the added cost in per cent (median of the rounds' pairs), and
   the SQL statements of an event alone.
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
from typing import Any, NamedTuple
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
        "--worker-rounds",
        type=int,
        default=30,
        help="pairs of worker runs, with and without (0: the page only)",
    )
    parser.add_argument(
        "--events", type=int, default=100, help="events a worker run (tasks of 100, or of one)"
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
    if args.worker_rounds:
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
    off: events stored in the inbox, then processed by the Celery task's
    function (``process_inbound_events``), in tasks of ``EVENT_BATCH_SIZE``
    ids (a backlog: the first event takes the others into its
    ``apply_events`` batch) and in tasks of one (an idle inbox: a batch of
    one). Each round runs the two variants back to back, in alternating
    order; the cost of the step is
    the median over rounds of each pair's ratio, so the machine's slow
    drifts (checkpoints, autovacuum, other jobs) fall on both sides of a
    pair. With the metrics step, the roll-up refresh Celery beat runs
    (``refresh_rollups``) is timed apart after the run: it runs every five
    minutes, however many events came meanwhile."""
    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from conversations.insights.store import refresh_rollups, write_metrics
    from webhooks.models import EventStatus, InboundEvent
    from webhooks.tasks import process_inbound_events

    # Each round's events in hours of their own, after the page's ranges,
    # and (by a random start) apart from earlier runs' events: a refresh
    # then recomputes this run's hours only.
    start = 10**5 * random.randrange(1, 2000)
    numbers = iter(range(start, start + 10**9, 10**5))
    batch_size = settings.EVENT_BATCH_SIZE
    # The step as the normaliser calls it, replaced by a timed or an empty one.
    step_in_normaliser = "conversations.services.normaliser.write_metrics"

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = Path(f"/proc/{cursor.fetchone()[0]}/stat")

    def cpu_seconds() -> float:
        """CPU time of this process and of its PostgreSQL backend (same
        machine): unlike wall time, barely moved by other jobs' load."""
        ticks = sum(int(field) for field in backend.read_text().rsplit(")", 1)[1].split()[11:13])
        return time.process_time() + ticks / os.sysconf("SC_CLK_TCK")

    def run(ids: list[int], task_size: int, metrics: bool) -> Run:
        in_step = [0.0]

        def timed_step(conversation_ids: Any) -> None:
            started = time.perf_counter()
            write_metrics(conversation_ids)
            in_step[0] += time.perf_counter() - started

        step = timed_step if metrics else lambda conversation_ids: None
        cpu, started = cpu_seconds(), time.perf_counter()
        with mock.patch(step_in_normaliser, step):
            for start in range(0, len(ids), task_size):
                process_inbound_events(ids[start : start + task_size])
        processed, cpu = time.perf_counter(), cpu_seconds() - cpu
        if metrics:
            refresh_rollups()
        done = InboundEvent.objects.filter(pk__in=ids, status=EventStatus.PROCESSED).count()
        assert done == len(ids), f"{done} of {len(ids)} events processed"
        return Run(processed - started, in_step[0], time.perf_counter() - processed, cpu)

    shapes = {f"tasks of {batch_size} (a backlog)": batch_size, "tasks of 1 (an idle inbox)": 1}
    runs: dict[str, dict[bool, list[Run]]] = {name: {True: [], False: []} for name in shapes}
    for task_size in shapes.values():  # warm
        run(stored_events(20, next(numbers)), task_size, True)
    autovacuum = stand_in_for_autovacuum()
    for round_number in range(args.worker_rounds):
        if round_number % 10 == 0:
            autovacuum()
        for name, task_size in shapes.items():
            for metrics in (True, False) if round_number % 2 else (False, True):
                # Stored just before: a task takes every pending event into its batch.
                events = stored_events(args.events, next(numbers))
                runs[name][metrics].append(run(events, task_size, metrics))
    print(
        f"\nWorker, closed events of {PER_CONVERSATION} messages, {args.events} events a variant "
        f"and round, {args.worker_rounds} rounds"
    )
    print("  events/s without the metrics step / with it (medians); what the step adds, the")
    print("  median of the rounds' pairs (quartiles), in wall time and in CPU time (worker and")
    print("  its PostgreSQL backend); the roll-up refresh after each run with the step; and")
    print("  the step's own time (``write_metrics``) against the rest of the same run:")
    for name in shapes:
        off, on = runs[name][False], runs[name][True]
        wall = [b.seconds / a.seconds - 1 for a, b in zip(off, on, strict=True)]
        cpu = [b.cpu / a.cpu - 1 for a, b in zip(off, on, strict=True)]
        print(
            f"  {name:<28} {statistics.median(args.events / r.seconds for r in off):6.1f} / "
            f"{statistics.median(args.events / r.seconds for r in on):6.1f} events/s; "
            f"wall {spread(wall)}; CPU {spread(cpu)}; "
            f"refresh {statistics.median(r.refresh for r in on) * 1000:.1f} ms"
        )
        inside = [r.step / (r.seconds - r.step) for r in on]
        print(
            f"  {'':<28} the step timed inside the runs with it: "
            f"{statistics.median(r.step for r in on) * 1000 / (args.events / shapes[name]):.2f} "
            f"ms a task, {spread(inside)} of the rest of the run"
        )
    counts = {}
    for metrics in (True, False):
        ids = stored_events(1, next(numbers))
        with (
            contextlib.nullcontext()
            if metrics
            else mock.patch(step_in_normaliser, lambda ids: None),
            CaptureQueriesContext(connection) as captured,
        ):
            process_inbound_events(ids)
        counts[metrics] = len(captured.captured_queries)
    print(
        f"  SQL statements for an event alone: {counts[False]} without, {counts[True]} with "
        f"(immune to the machine's load)"
    )
    print(f"  load average: {Path('/proc/loadavg').read_text().split()[0]}", flush=True)


def stand_in_for_autovacuum() -> Callable[[], None]:
    """What to run between rounds: VACUUM ANALYZE of the tables the worker
    churns when the server's autovacuum is off (as on the CI machines),
    else nothing. Without it the inbox's statistics went stale: the
    planner read the partial index of received events with a bitmap scan,
    which visits every dead entry each processed event leaves there (107
    ms a pick of pending events after a few runs, against 0.3 ms by the
    plain index scan it chooses on fresh statistics), and the worker's
    events/s drifted down run after run."""
    from django.db import connection

    from conversations.models import ConversationMetrics, InsightsHour, InsightsPendingHour
    from webhooks.models import InboundEvent

    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        if cursor.fetchone()[0] == "on":
            return lambda: None
    print("  (autovacuum is off on this server: the bench vacuums between rounds)")
    tables = [InboundEvent, ConversationMetrics, InsightsHour, InsightsPendingHour]

    def vacuum() -> None:
        with connection.cursor() as cursor:
            names = ", ".join(model._meta.db_table for model in tables)
            cursor.execute(f"VACUUM (ANALYZE) {names}")

    return vacuum


class Run(NamedTuple):
    seconds: float  # processing the events, wall clock
    step: float  # of which in the metrics step (0 without it)
    refresh: float  # the roll-up refresh after it (0 without the metrics step)
    cpu: float  # processing, CPU seconds of the worker and its backend


def spread(ratios: list[float]) -> str:
    """ "+4.1 % (+1.0 to +7.3)": the median and the quartiles."""
    low, middle, high = statistics.quantiles(ratios, n=4, method="inclusive")
    return f"{middle:+.1%} ({low:+.1%} to {high:+.1%})"


if __name__ == "__main__":
    main()
