"""CPU per request of the three ingest targets, in one process, no HTTP.

Run after bench/ingest.py, on the same database (it reuses its endpoint):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ca_rel_bench \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/14 \\
    .venv/bin/python bench/receive_cpu.py [--requests 3000] [--rounds 15]

Each request goes through Django's own WSGI handler (every middleware, the
URL resolver, the view, the database) with a hand-built environ: no test
client, no gunicorn. The targets take turns in rounds and the CPU time of
the process (its relay thread included) is read around each round; the
minimum and median per request are printed, the minimum being the figure
least disturbed by other work on the machine. Every event is new (the first
event number is kept in a file beside the database's name, so runs do not
repeat each other's events and get 200 duplicates).
"""

import argparse
import hashlib
import hmac
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.ingest_settings")
os.environ.setdefault("DATABASE_CONN_MAX_AGE", "60")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django

django.setup()

from django.core.handlers.wsgi import WSGIHandler
from django.db import connection

from bench.ingest import SECRET, closed_event
from webhooks.models import WebhookEndpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="per target, all rounds")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    endpoint = WebhookEndpoint.objects.get(name="bench")
    token = endpoint.set_token()
    endpoint.save()
    per_round = args.requests // args.rounds
    bodies = iter(signed_bodies(3 * (args.requests + 30)))
    handler = WSGIHandler()
    statuses: dict[str, int] = {}

    def start_response(status: str, headers: list, exc_info: object = None) -> None:
        statuses[status] = statuses.get(status, 0) + 1

    def send(path: str, count: int) -> None:
        for _ in range(count):
            body, signature = next(bodies)
            response = handler(environ(path, body, signature), start_response)
            b"".join(response)
            response.close()

    targets = {
        "bare": "/bench/bare/",
        "insert": "/bench/insert/",
        "webhook": f"/webhooks/closer/{token}/",
    }
    for path in targets.values():
        send(path, 30)  # warm-up: imports, connection, prepared statement
    cpu: dict[str, list[float]] = {name: [] for name in targets}
    for _ in range(args.rounds):
        for name, path in targets.items():
            started = time.process_time()
            send(path, per_round)
            cpu[name].append((time.process_time() - started) / per_round * 1e6)
    for name, figures in cpu.items():
        figures.sort()
        print(
            f"{name:8} CPU per request: min {figures[0]:4.0f} µs"
            f"   median {figures[len(figures) // 2]:4.0f} µs"
        )
    print(f"answers: {statuses}")


def signed_bodies(count: int) -> list[tuple[bytes, str]]:
    counter = Path(tempfile.gettempdir()) / f"receive_cpu.{connection.settings_dict['NAME']}"
    first = int(counter.read_text()) if counter.exists() else 1_000_000
    counter.write_text(str(first + count))
    bodies = []
    for n in range(first, first + count):
        body = json.dumps(closed_event(n), separators=(",", ":")).encode()
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        bodies.append((body, signature))
    return bodies


def environ(path: str, body: bytes, signature: str) -> dict:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_X_SIGNATURE_256": signature,
        "HTTP_USER_AGENT": "wrk",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


if __name__ == "__main__":
    main()
