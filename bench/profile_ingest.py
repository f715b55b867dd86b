"""Profiles behind docs/benchmarks.md "Where the time goes".

Run after bench/ingest.py, on the same database (it reuses its endpoint):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ca_rel_bench \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/14 \\
    .venv/bin/python bench/profile_ingest.py view        # or: normaliser

``view``: 250 sequential webhook requests and 250 to the insert baseline
through Django's test client (ms per request each), then a cProfile of 50
more. ``normaliser``: apply_events on batches of 50 closed events with 20
messages (events/s, queries, database time), then a cProfile.
"""

import cProfile
import hashlib
import hmac
import json
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.ingest_settings")
os.environ.setdefault("DATABASE_CONN_MAX_AGE", "60")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django

django.setup()

from django.db import connection
from django.test import Client

from bench.ingest import SECRET, closed_event
from conversations.services import IncomingEvent, apply_events
from webhooks.models import WebhookEndpoint

# Fresh event numbers on every run (no duplicates), timestamps in range.
FIRST = 1_000_000 + (int(time.time()) % 60_000) * 600


def profile_view() -> None:
    endpoint = WebhookEndpoint.objects.get(name="bench")
    token = endpoint.set_token()
    endpoint.save()
    client, url = Client(), f"/webhooks/closer/{token}/"
    bodies = []
    for n in range(FIRST, FIRST + 600):
        body = json.dumps(closed_event(n), separators=(",", ":")).encode()
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        bodies.append((body, signature))

    def send(items: list, path: str = url) -> None:
        for body, signature in items:
            client.generic(
                "POST", path, body, content_type="application/json",
                headers={"X-Signature-256": signature},
            )  # fmt: skip

    send(bodies[:50])  # warm-up
    started = time.perf_counter()
    send(bodies[50:300])
    print(f"webhook: {(time.perf_counter() - started) / 250 * 1000:.2f} ms per request")
    started = time.perf_counter()
    send(bodies[300:550], "/bench/insert/")
    print(f"insert baseline: {(time.perf_counter() - started) / 250 * 1000:.2f} ms per request")
    profiler = cProfile.Profile()
    profiler.enable()
    send(bodies[550:600])
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(
        "webhooks/|apply_async|conversations/payloads|base.py:830", 25
    )


def profile_normaliser() -> None:
    events = [IncomingEvent(payload=closed_event(n)) for n in range(FIRST, FIRST + 500)]
    timings: list[tuple[float, str]] = []

    def timed(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timings.append((time.perf_counter() - started, sql[:60]))

    started = time.perf_counter()
    with connection.execute_wrapper(timed):
        for i in range(0, 250, 50):
            apply_events(events[i : i + 50])
    elapsed = time.perf_counter() - started
    print(
        f"250 events in batches of 50: {elapsed:.2f} s = {250 / elapsed:.0f} events/s; "
        f"{len(timings)} queries, {sum(t for t, _ in timings):.2f} s in the database"
    )
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(250, 500, 50):
        apply_events(events[i : i + 50])
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats("conversations/services", 12)


if __name__ == "__main__":
    {"view": profile_view, "normaliser": profile_normaliser}[sys.argv[1]]()
