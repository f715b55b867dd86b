"""Workers bench: CPU per processed event with one Celery worker process and with two.

    .venv/bin/python bench/workers.py [--customers 400] [--events-per-customer 10]
        [--advisers 40] [--pairs 2] [--json PATH]

On this 2-core machine two worker processes cannot double throughput; what
decides scaling out (more processes, more machines) is whether a second
process makes each event dearer: lock waits that turn into retries,
deadlocks, or work done twice. So, per run:

1. the archive and inbox tables of the bench database
   (``ca_scale_workers``, created and migrated on the first run) are emptied
   and Redis db 10 (the broker) is flushed;
2. one real ``celery worker`` (the Procfile's prefork pool) is started with
   ``--concurrency 1`` or ``2`` and warmed up on a few hundred events;
3. closed events of 20 messages are posted through the real webhook view
   (Django's test client: HMAC check, the same INSERT), interleaved by
   customer (customer 1's first event, customer 2's first, ... then every
   customer's second ...) with advisers shared by all, in one transaction:
   at its commit the web process's relay sends the tasks through the broker
   as in production, batches of ``EVENT_BATCH_SIZE`` ids;
4. timed from that commit until every event is ``processed``: events/s, and
   CPU per event = the worker's processes (parent and children, /proc) plus
   the PostgreSQL backends serving them (every client backend of the
   database but this script's own, /proc/PID/stat; the workers keep their
   connections, ``DATABASE_CONN_MAX_AGE``, so the same backends live through
   the run). Autovacuum is not counted.

Runs alternate 1, 2, 1, 2 ... (``--pairs``). Also counted per run:
deadlocks (``pg_stat_database.deadlocks`` of the database, delta), events
that needed more than one attempt, attempts beyond the first, and batches
that failed and fell back to applying one event alone (a warning in the
worker's log; such a fallback costs no attempt).
"""

import argparse
import hashlib
import hmac
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SECRET = "bench-workers-secret"
DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/ca_scale_workers"
DEFAULT_BROKER = "redis://127.0.0.1:6379/10"
PHRASES = [
    "Dzień dobry, mam pytanie o zamówienie",
    "Hello, my order has not arrived yet",
    "Proszę podać numer zamówienia",
    "It is 48213, placed last Tuesday",
    "Widzę, że paczka wyszła z magazynu w piątek",
    "The carrier says it is out for delivery today",
    "Dziękuję bardzo za pomoc!",
    "Anything else I can help you with?",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE)
    parser.add_argument("--broker-url", default=DEFAULT_BROKER)
    parser.add_argument("--customers", type=int, default=400)
    parser.add_argument("--events-per-customer", type=int, default=10)
    parser.add_argument("--advisers", type=int, default=40)
    parser.add_argument("--pairs", type=int, default=2, help="runs of 1 then 2 processes")
    parser.add_argument(
        "--batch-size", type=int, default=100, help="EVENT_BATCH_SIZE (1: every event alone)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    options = parser.parse_args()

    if not urlparse(options.database_url).path.lstrip("/").startswith("ca_scale_workers"):
        sys.exit("--database-url must name a ca_scale_workers* database (it is emptied)")
    env = {
        **os.environ,
        "DATABASE_URL": options.database_url,
        "CELERY_BROKER_URL": options.broker_url,
        "DJANGO_SETTINGS_MODULE": "closerarchive.settings",
        # Kept connections, as production's default: the backends serving a
        # worker live through the run, so /proc holds their CPU.
        "DATABASE_CONN_MAX_AGE": "600",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        # The relay's task size and the worker's batch, as in production.
        "EVENT_BATCH_SIZE": str(options.batch_size),
    }
    create_database(options.database_url)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    os.environ.update(env)
    import django

    django.setup()
    from webhooks.models import WebhookEndpoint

    empty_archive()
    WebhookEndpoint.objects.all().delete()
    endpoint = WebhookEndpoint(name="bench", hmac_secrets=[SECRET])
    token = endpoint.set_token()
    endpoint.save()

    bodies = interleaved_bodies(options.customers, options.events_per_customer, options.advisers)
    print(
        f"{len(bodies):,} closed events of 20 messages, {options.customers:,} customers "
        f"interleaved ({options.events_per_customer} each), {options.advisers} advisers shared; "
        f"EVENT_BATCH_SIZE {options.batch_size}",
        flush=True,
    )
    runs: dict[int, list[dict]] = {1: [], 2: []}
    workdir = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    for pair in range(options.pairs):
        for processes in (1, 2):
            result = measure(
                processes, bodies, token, env, workdir / f"worker-{pair}-{processes}.log"
            )
            runs[processes].append(result)
            print(
                f"{processes} process{'es' if processes > 1 else '  '}: "
                f"{result['events_per_s']:6.0f} events/s   CPU {result['cpu_ms']:.2f} ms/event "
                f"(worker {result['worker_ms']:.2f}, PostgreSQL {result['postgres_ms']:.2f})   "
                f"deadlocks {result['deadlocks']}   events retried {result['events_retried']}   "
                f"extra attempts {result['extra_attempts']}   batch fallbacks "
                f"{result['batch_fallbacks']}   load {result['load']:.2f}",
                flush=True,
            )
    summary = summarise(runs)
    print(
        f"\nmedian events/s: 1 process {summary['1 process events/s']:.0f}, "
        f"2 processes {summary['2 processes events/s']:.0f} "
        f"({summary['throughput 2 / 1']:.2f}x)\n"
        f"median CPU per event: 1 process {summary['1 process CPU ms/event']:.2f} ms, "
        f"2 processes {summary['2 processes CPU ms/event']:.2f} ms "
        f"(ratio {summary['CPU per event 2 / 1']:.2f}; goal at most 1.15)\n"
        f"deadlocks {summary['deadlocks']}, events retried {summary['events retried']}, "
        f"batch fallbacks {summary['batch fallbacks']}"
    )
    if options.json:
        options.json.write_text(json.dumps(summary, indent=2) + "\n")


def interleaved_bodies(customers: int, per_customer: int, advisers: int) -> list[bytes]:
    """Every customer's first event, then every customer's second, ...: the
    relay's batches of 100 take neighbouring customers, and the next batch
    of a customer comes while the other process works on its neighbours."""
    return [
        json.dumps(closed_event(customer, k, advisers), separators=(",", ":")).encode()
        for k in range(per_customer)
        for customer in range(customers)
    ]


def closed_event(customer: int, k: int, advisers: int) -> dict:
    """Customer ``customer``'s ``k``-th conversation, closed, 20 messages."""
    base = 1_750_000_000_000 + k * 86_400_000 + customer * 1000
    customer_id = f"cust-{customer:06d}"
    adviser = (customer * 7 + k) % advisers
    adviser_id = f"adviser-{adviser:03d}"
    messages = [
        {
            "author": {
                "id": customer_id if i % 2 == 0 else adviser_id,
                "role": "CUSTOMER" if i % 2 == 0 else "ADVISER",
            },
            "message": f"{PHRASES[(i + k) % len(PHRASES)]} ({customer}/{k}/{i})",
            "timestamp": base - (20 - i) * 20_000,
        }
        for i in range(20)
    ]
    return {
        "customer": {
            "id": customer_id,
            "apiKey": "00000000-0000-0000-0000-000000000000",
            "firstName": f"Anna{customer}",
            "lastName": "Nowak",
            "email": f"anna.nowak{customer}@example.com",
            "phone": f"+4850{customer:07d}",
        },
        "timestamp": base,
        "closedType": "solved",
        "assignee": {
            "id": adviser_id,
            "firstName": f"Zofia{adviser}",
            "lastName": "Kowalska",
            "email": f"zofia{adviser}@closer.app",
            "isBot": adviser == 0,
        },
        "messageHistory": messages,
        "eventType": "ThreadClosedEvent",
    }


def measure(processes: int, bodies: list[bytes], token: str, env: dict, log: Path) -> dict:
    """One run: empty archive, a worker of ``processes`` processes, the
    events posted and timed until processed."""
    import redis
    from django.db import connection

    from webhooks.models import EventStatus, InboundEvent

    empty_archive()
    redis.Redis.from_url(env["CELERY_BROKER_URL"]).flushdb()
    worker = start_worker(processes, env, log)
    try:
        warm_up = [
            json.dumps(closed_event(100_000 + n, 0, 1), separators=(",", ":")).encode()
            for n in range(100 * processes)
        ]
        post_all(warm_up, token)
        wait_processed(len(warm_up), worker)
        connection.close()  # a new backend for this script: not a worker's
        deadlocks_before = deadlocks()
        before = cpu_snapshot(worker.pid)
        started = post_all(bodies, token)
        wait_processed(len(warm_up) + len(bodies), worker)
        elapsed = time.monotonic() - started
        after = cpu_snapshot(worker.pid)
        time.sleep(1)  # PostgreSQL publishes its counters at most once a second
        deadlock_count = deadlocks() - deadlocks_before
    finally:
        stop(worker)
    measured = InboundEvent.objects.filter(customer_closer_id__lt="cust-100000")
    attempts = list(measured.values_list("attempts", flat=True))
    if measured.exclude(status=EventStatus.PROCESSED).exists() or len(attempts) != len(bodies):
        raise SystemExit("NOT every event was processed")
    worker_cpu = after["worker"] - before["worker"]
    postgres_cpu = sum(
        cpu - before["backends"].get(pid, 0.0) for pid, cpu in after["backends"].items()
    )
    events = len(bodies)
    return {
        "events_per_s": events / elapsed,
        "cpu_ms": (worker_cpu + postgres_cpu) / events * 1000,
        "worker_ms": worker_cpu / events * 1000,
        "postgres_ms": postgres_cpu / events * 1000,
        "deadlocks": deadlock_count,
        "events_retried": sum(1 for n in attempts if n > 1),
        "extra_attempts": sum(attempts) - len(attempts),
        "batch_fallbacks": log.read_text().count("events failed; applying event"),
        "load": os.getloadavg()[0],
    }


def post_all(bodies: list[bytes], token: str) -> float:
    """Post every body through the webhook view in one transaction; return
    the time of its commit (when the relay starts sending the tasks)."""
    from django.db import transaction
    from django.test import Client

    client = Client()
    url = f"/webhooks/closer/{token}/"
    with transaction.atomic():
        for body in bodies:
            signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            response = client.generic(
                "POST",
                url,
                body,
                content_type="application/json",
                headers={"X-Signature-256": f"sha256={signature}"},
            )
            if response.status_code != 202:
                raise SystemExit(f"webhook answered {response.status_code}: {response.content!r}")
    return time.monotonic()


def wait_processed(total: int, worker: subprocess.Popen[bytes], timeout: float = 1800) -> None:
    from webhooks.models import EventStatus, InboundEvent

    deadline = time.monotonic() + timeout
    while InboundEvent.objects.filter(status=EventStatus.PROCESSED).count() < total:
        if worker.poll() is not None:
            raise SystemExit(f"the worker exited ({worker.returncode}); see its log")
        if time.monotonic() > deadline:
            raise SystemExit("the worker did not process every event in time")
        time.sleep(0.1)


def empty_archive() -> None:
    from django.apps import apps
    from django.db import connection

    tables = [
        model._meta.db_table
        for label in ("conversations", "webhooks")
        for model in apps.get_app_config(label).get_models()
        if model._meta.db_table != "webhooks_webhookendpoint"
    ]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


def start_worker(processes: int, env: dict, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "closerarchive", "worker",
                "--pool", "prefork", "--concurrency", str(processes), "--loglevel", "WARNING",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
            ],
            cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True,
        )  # fmt: skip


def stop(worker: subprocess.Popen[bytes]) -> None:
    worker.terminate()  # the parent stops its children (a warm shutdown)
    try:
        worker.wait(timeout=60)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def cpu_snapshot(worker_pid: int) -> dict:
    """CPU seconds so far of the worker's processes and of each client
    backend of this database but this script's own."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
        backends = [pid for (pid,) in cursor.fetchall()]
    children = Path(f"/proc/{worker_pid}/task/{worker_pid}/children").read_text().split()
    return {
        "worker": sum(process_cpu(pid) for pid in [worker_pid, *map(int, children)]),
        "backends": {pid: process_cpu(pid) for pid in backends},
    }


def process_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def deadlocks() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        return int(cursor.fetchone()[0])


def create_database(url: str) -> None:
    parts = urlparse(url)
    name = parts.path.lstrip("/")
    base = ["psql", "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432)]
    base += ["-U", parts.username or "postgres", "-d", "postgres", "-Atc"]
    exists = subprocess.run(
        [*base, f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    if not exists:
        subprocess.run([*base, f'CREATE DATABASE "{name}"'], check=True)


def summarise(runs: dict[int, list[dict]]) -> dict:
    one = {key: statistics.median(run[key] for run in runs[1]) for key in runs[1][0]}
    two = {key: statistics.median(run[key] for run in runs[2]) for key in runs[2][0]}
    everything = runs[1] + runs[2]
    return {
        "1 process events/s": round(one["events_per_s"], 1),
        "2 processes events/s": round(two["events_per_s"], 1),
        "throughput 2 / 1": round(two["events_per_s"] / one["events_per_s"], 3),
        "1 process CPU ms/event": round(one["cpu_ms"], 3),
        "2 processes CPU ms/event": round(two["cpu_ms"], 3),
        "CPU per event 2 / 1": round(two["cpu_ms"] / one["cpu_ms"], 3),
        "1 process worker CPU ms/event": round(one["worker_ms"], 3),
        "1 process PostgreSQL CPU ms/event": round(one["postgres_ms"], 3),
        "2 processes worker CPU ms/event": round(two["worker_ms"], 3),
        "2 processes PostgreSQL CPU ms/event": round(two["postgres_ms"], 3),
        "deadlocks": sum(run["deadlocks"] for run in everything),
        "events retried": sum(run["events_retried"] for run in everything),
        "batch fallbacks": sum(run["batch_fallbacks"] for run in everything),
        "load average": round(max(run["load"] for run in everything), 2),
    }


if __name__ == "__main__":
    main()
