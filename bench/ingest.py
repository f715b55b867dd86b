"""Ingest benchmark: the webhook view against two baselines, then the worker.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/closer_archive_bench \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/14 \\
    .venv/bin/python bench/ingest.py

What it does, in one run:

1. drops and re-creates the database named in DATABASE_URL (it must end in
   ``_bench``: this script destroys it), migrates it, creates an HMAC-signed
   endpoint, and writes N valid signed ``conversation.closed`` events with 20
   messages each (about 2 KB of JSON), all distinct;
2. starts gunicorn on loopback (the same settings for every target) and
   drives each target with wrk (Debian's ``wrk``) at 64 connections:
   - ``bare``: a Django view that parses the JSON and answers 202;
   - ``insert``: the same plus one committed INSERT of the body into
     PostgreSQL (the floor for an acknowledgement that is never lost);
   - ``webhook``: the real receive view (token, HMAC check, parse, validate,
     one insert with its dedupe key, the task published to the broker);
3. prints requests/s, p50 and p99 latency of each, and the ratios
   webhook/insert and webhook/bare; with ``--cpu``, also the CPU time per
   request of gunicorn, of the database's PostgreSQL backends, of wrk, and
   of the whole machine (other people's work included) in the measured run;
   with ``--rounds N``, the targets take turns in N slices each, so that
   other work on the machine weighs on every target alike; every measured
   webhook is a new event (each wrk run skips the events sent before);
4. counts the events the webhook run accepted, starts one Celery worker
   process (``--pool solo``) and measures how fast it processes them, then
   checks that every accepted event ended ``processed``.
"""

import argparse
import hashlib
import hmac
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SECRET = "bench-hmac-secret"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds per target")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per target")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--wrk-threads", type=int, default=2)
    # The default server is the README's deployment: gunicorn's sync workers, four.
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument(
        "--worker-class",
        choices=["sync", "gthread"],
        default="sync",
        help="gunicorn worker class (sync: one request at a time per process, no keep-alive)",
    )
    parser.add_argument(
        "--threads", type=int, default=8, help="gunicorn threads per worker (gthread only)"
    )
    parser.add_argument("--events", type=int, default=40_000, help="distinct signed events")
    parser.add_argument(
        "--targets",
        default="bare,insert,webhook",
        help="comma-separated subset of bare,insert,webhook (e.g. to attach a profiler)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure the targets in turn, this many slices each of duration/rounds seconds "
        "(req/s over all slices, p50 the median slice's, p99 the worst slice's)",
    )
    parser.add_argument("--no-worker", action="store_true", help="skip the worker measurement")
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="also report CPU per request of gunicorn, the PostgreSQL backends and wrk",
    )
    args = parser.parse_args()

    database_url = os.environ.get("DATABASE_URL", "")
    broker_url = os.environ.get("CELERY_BROKER_URL", "")
    if not urlparse(database_url).path.endswith("_bench"):
        sys.exit("DATABASE_URL must name a database ending in _bench (it is dropped)")
    if not broker_url.startswith("redis://"):
        sys.exit("CELERY_BROKER_URL must be a Redis URL whose database may be flushed")
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install -y wrk")

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.ingest_settings",
        "DATABASE_CONN_MAX_AGE": "60",  # persistent connections, for every target alike
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    recreate_database(database_url)
    run([sys.executable, "manage.py", "migrate", "-v", "0"], env)
    os.environ.update(env)
    import django

    django.setup()
    import redis
    from django.db import connection

    from bench.ingest_urls import BASELINE_TABLE
    from webhooks.models import EventStatus, InboundEvent, WebhookEndpoint

    redis.Redis.from_url(broker_url).flushdb()
    endpoint = WebhookEndpoint(name="bench", hmac_secrets=[SECRET])
    token = endpoint.set_token()
    endpoint.save()
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {BASELINE_TABLE} (id bigserial PRIMARY KEY, body bytea NOT NULL,"
            " received_at timestamptz NOT NULL DEFAULT now())"
        )
    connection.close()

    workdir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    requests_file = workdir / "requests.tsv"
    sizes = write_requests(requests_file, args.events)
    print(
        f"{args.events} distinct closed events, 20 messages each, "
        f"{min(sizes)}-{max(sizes)} bytes (mean {sum(sizes) // len(sizes)})"
    )
    shape = f"{args.threads} threads (gthread)" if args.worker_class == "gthread" else "1 (sync)"
    print(
        f"gunicorn: {args.workers} workers x {shape}; "
        f"wrk: {args.wrk_threads} threads, {args.connections} connections, "
        f"{args.warmup}s warm-up + {args.duration}s per target"
        + (f" in {args.rounds} interleaved slices\n" if args.rounds > 1 else "\n")
    )

    slice_seconds = max(args.duration // args.rounds, 1)
    port = free_port()
    server = start_gunicorn(port, args, env, workdir)
    results = {}
    try:
        targets = {
            "bare": "/bench/bare/",
            "insert": "/bench/insert/",
            "webhook": f"/webhooks/closer/{token}/",
        }
        names = args.targets.split(",")
        urls = {name: f"http://127.0.0.1:{port}{targets[name]}" for name in names}
        sent = dict.fromkeys(names, 0)
        slices: dict[str, list[dict]] = {name: [] for name in names}
        cpu: dict[str, dict[str, float]] = {}
        # Each target in turn, --rounds times: with other work on the machine,
        # targets measured minutes apart see different loads; interleaved
        # slices see about the same.
        for round_number in range(args.rounds):
            for name in names:
                if round_number == 0:  # warm up right before the target's first slice
                    sent[name] = drive(urls[name], requests_file, args, args.warmup)["requests"]
                before = cpu_snapshot(server.pid) if args.cpu else None
                # Past the events already sent (the warm-up's, earlier slices'):
                # every measured webhook is a new event. (Each run used to
                # start at the first event again, so the measured run's first
                # few thousand webhooks were duplicates, answered 200.)
                measured = drive(urls[name], requests_file, args, slice_seconds, sent[name])
                sent[name] += measured["requests"]
                slices[name].append(measured)
                if before is not None:
                    after = cpu_snapshot(server.pid)
                    totals = cpu.setdefault(name, {})
                    for key, value in after.items():
                        # A backend that ended between the snapshots is left
                        # out; one that started counts from zero.
                        group = "postgres" if key.startswith("postgres ") else key
                        totals[group] = totals.get(group, 0.0) + value - before.get(key, 0.0)
        for name in names:
            results[name] = r = combined(slices[name])
            if name == "webhook" and sent[name] + 100 * args.wrk_threads > args.events:
                print(f"warning: more requests than --events {args.events}: some events repeat")
            print(
                f"{name:8} {r['rps']:8.0f} req/s   p50 {r['p50']:7.1f} ms   "
                f"p99 {r['p99']:7.1f} ms   non-2xx {r['errors']}"
            )
            if name in cpu:
                print_cpu({key: 0.0 for key in cpu[name]}, cpu[name], r["requests"])
        if args.rounds > 1 and {"insert", "webhook"} <= set(names):
            # Slices taken side by side share the machine's load; the spread
            # of their ratios shows how far one run's ratio can be trusted.
            ratios = sorted(
                webhook["rps"] / insert["rps"]
                for insert, webhook in zip(slices["insert"], slices["webhook"], strict=True)
            )
            print(
                "webhook / insert, slice by slice: "
                + " ".join(f"{ratio:.2f}" for ratio in ratios)
                + f"   (median {statistics.median(ratios):.2f})"
            )
    finally:
        server.terminate()
        server.wait(timeout=30)
    if len(results) == len(targets):
        rps = {name: result["rps"] for name, result in results.items()}
        print(
            f"\nwebhook / insert baseline: {rps['webhook'] / rps['insert']:.2f}"
            f"   webhook / bare baseline: {rps['webhook'] / rps['bare']:.2f}"
            f"   insert / bare: {rps['insert'] / rps['bare']:.2f}"
        )
    if args.no_worker:
        return

    accepted = InboundEvent.objects.count()
    print(f"\naccepted by the webhook runs (warm-up included): {accepted} events")
    worker = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "closerarchive", "worker",
            "--pool", "solo", "--loglevel", "WARNING",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "closerarchive.settings"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        pending = InboundEvent.objects.filter(status=EventStatus.RECEIVED)
        first_done = wait_for(lambda: pending.count() < accepted, timeout=120)
        started, start_left = time.monotonic(), pending.count()
        deadline = started + 1800
        while (left := pending.count()) and time.monotonic() < deadline:
            time.sleep(0.5)
        elapsed = time.monotonic() - started
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    assert first_done
    processed = InboundEvent.objects.filter(status=EventStatus.PROCESSED).count()
    print(
        f"one worker process (--pool solo): {start_left - left} events in {elapsed:.1f} s = "
        f"{(start_left - left) / elapsed:.0f} events/s"
    )
    print(f"processed {processed} of {accepted} accepted events; left unprocessed: {left}")
    shutil.rmtree(workdir)
    if processed != accepted:
        sys.exit("NOT every accepted event was processed")


def closed_event(n: int) -> dict:
    """A valid conversation.closed event with 20 messages (about 2 KB)."""
    base = 1_700_000_000_000 + n * 3_600_000
    customer = f"{n:08d}-bench-0000-0000-000000000000"
    messages = [
        {
            "author": {
                "id": customer if i % 2 == 0 else "adviser-1",
                "role": "CUSTOMER" if i % 2 == 0 else "ADVISER",
            },
            "message": f"Thanks {i}",
            "timestamp": base - (20 - i) * 1000,
        }
        for i in range(20)
    ]
    return {
        "customer": {
            "id": customer,
            "apiKey": "00000000-0000-0000-0000-000000000000",
            "firstName": "Jon",
            "lastName": "Snow",
            "randomName": "Frosty Wolf",
            "email": f"jon{n}@example.com",
            "phone": "+48123456789",
            "backOfficeData": [{"key": "currentPage", "value": "https://example.com/"}],
        },
        "timestamp": base,
        "closedType": "solved",
        "assignee": {
            "id": "adviser-1",
            "firstName": "Bob",
            "lastName": "Holmes",
            "email": "bob@closer.app",
            "isBot": False,
        },
        "messageHistory": messages,
        "eventType": "ThreadClosedEvent",
    }


def write_requests(path: Path, count: int) -> list[int]:
    sizes = []
    with path.open("w") as out:
        for n in range(count):
            body = json.dumps(closed_event(n), separators=(",", ":")).encode()
            signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            out.write(f"sha256={signature}\t{body.decode()}\n")
            sizes.append(len(body))
    return sizes


def drive(
    url: str, requests_file: Path, args: argparse.Namespace, seconds: int, already_sent: int = 0
) -> dict:
    """One wrk run; ``already_sent``: requests earlier runs sent this target,
    whose events each wrk thread skips (plus a margin: threads are uneven)."""
    skip = already_sent // args.wrk_threads + 100 if already_sent else 0
    output = subprocess.run(
        [
            "wrk", f"-t{args.wrk_threads}", f"-c{args.connections}", f"-d{seconds}s",
            "--latency", "--timeout", "10s", "-s", str(ROOT / "bench" / "ingest.lua"),
            url, "--", str(requests_file), str(args.wrk_threads), str(skip),
        ],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return {
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "seconds": elapsed_seconds(output),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50": latency_ms(output, "50%"),
        "p99": latency_ms(output, "99%"),
        "errors": int(m.group(1)) if (m := re.search(r"Non-2xx.*?:\s+(\d+)", output)) else 0,
    }


def combined(runs: list[dict]) -> dict:
    """One target's slices as one result (one slice: that run's figures)."""
    requests = sum(run["requests"] for run in runs)
    p50s = sorted(run["p50"] for run in runs)
    return {
        "requests": requests,
        "rps": requests / sum(run["seconds"] for run in runs) if len(runs) > 1 else runs[0]["rps"],
        "p50": p50s[len(p50s) // 2],
        "p99": max(run["p99"] for run in runs),
        "errors": sum(run["errors"] for run in runs),
    }


def cpu_snapshot(server_pid: int) -> dict[str, float]:
    """CPU seconds used so far by gunicorn (master and workers), by each of
    this database's PostgreSQL backends, by finished child processes (wrk),
    and by the whole machine (busy and idle), read from /proc."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        )
        backends = [pid for (pid,) in cursor.fetchall()]
    children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    gunicorn = [server_pid, *map(int, children)]
    return {
        "gunicorn": sum(process_cpu(pid) for pid in gunicorn),
        "gunicorn sys": sum(process_cpu(pid, user=False) for pid in gunicorn),
        "gunicorn switches": sum(context_switches(pid) for pid in gunicorn),
        **{f"postgres {pid}": process_cpu(pid) for pid in backends},
        "wrk": resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
        + resource.getrusage(resource.RUSAGE_CHILDREN).ru_stime,
        "machine busy": (sum(fields) - fields[3] - fields[4]) / ticks,
        "machine idle": (fields[3] + fields[4]) / ticks,
    }


def process_cpu(pid: int, *, user: bool = True) -> float:
    """CPU seconds of a process (all its threads): user and system, or
    system alone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) * user + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def context_switches(pid: int) -> float:
    """Context switches (voluntary and not) of all a process's threads, in
    millions, as print_cpu scales every figure by a million."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        try:
            for line in status.read_text().splitlines():
                if line.endswith("ctxt_switches") or "ctxt_switches:" in line:
                    total += int(line.split(":")[1])
        except FileNotFoundError:
            continue  # a thread that ended
    return total / 1e6


def print_cpu(before: dict[str, float], after: dict[str, float], requests: float) -> None:
    figures = []
    for name in before:
        per_request = (after[name] - before[name]) / requests * 1e6
        unit = "" if name.endswith("switches") else " µs"
        figures.append(f"{name} {per_request:.0f}{unit}")
    print("         per request: " + ", ".join(figures))


def elapsed_seconds(output: str) -> float:
    value, unit = re.search(r"requests in ([\d.]+)(us|ms|s|m),", output).groups()
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def latency_ms(output: str, percentile: str) -> float:
    value, unit = re.search(rf"^\s+{percentile}\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def start_gunicorn(
    port: int, args: argparse.Namespace, env: dict, workdir: Path
) -> subprocess.Popen:
    server = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "closerarchive.wsgi",
            "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
            "--worker-class", args.worker_class,
            *(["--threads", str(args.threads)] if args.worker_class == "gthread" else []),
            "--backlog", "2048", "--error-logfile", str(workdir / "gunicorn.log"),
        ],
        cwd=ROOT, env=env,
    )  # fmt: skip
    probe = urllib.request.Request(f"http://127.0.0.1:{port}/bench/bare/", data=b"{}")

    def answers() -> bool:
        try:
            urllib.request.urlopen(probe, timeout=2)
            return True
        except (urllib.error.URLError, OSError):
            return False

    if not wait_for(answers, timeout=60):
        sys.exit("gunicorn did not start")
    return server


def recreate_database(url: str) -> None:
    parts = urlparse(url)
    name = parts.path.lstrip("/")
    base = ["psql", "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432)]
    base += ["-U", parts.username or "postgres", "-d", "postgres", "-q", "-c"]
    subprocess.run([*base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], check=True)
    subprocess.run([*base, f'CREATE DATABASE "{name}"'], check=True)


def run(command: list[str], env: dict) -> None:
    subprocess.run(command, cwd=ROOT, env=env, check=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition, *, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


if __name__ == "__main__":
    main()
