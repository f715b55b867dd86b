"""Benchmark: the NDJSON export over real HTTP, against psql's COPY of the same messages.

    python bench/export.py [--database ca_api_bench] [--conversations 100000]
        [--messages-per-conversation 10] [--rebuild]

Builds (once; --rebuild to start over) an archive of conversations x messages
(default 100,000 x 10 = 1,000,000 messages) with COPY in its own database,
then for the first 10 % of the conversations (100 k messages) and for all of
them (1 M):

1. starts gunicorn (one sync worker) on the bench database, streams
   ``GET /api/v1/export/conversations.ndjson?opened_before=...`` over HTTP and
   reads the worker's peak RSS (VmHWM) when the body has ended; a fresh
   server for each size, so the peak belongs to that export alone;
2. runs ``psql -c "COPY (SELECT <the same messages, same order>) TO STDOUT"``
   just before and just after the export, and takes the mean of the two.

Both clients read the whole stream and count it. Prints messages/s for each,
the ratio (export time / COPY time) and the server's peak RSS.
"""

import argparse
import http.client
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG = {"host": "127.0.0.1", "port": "5432", "user": "postgres"}
START = datetime(2024, 1, 1, tzinfo=UTC)
ADVISERS = 50
PHRASES = [
    "Hello, I have a question about my order",
    "Sure, could you give me the order number?",
    "It is 48213, placed last Tuesday — zamówienie nie dotarło",
    "Thanks! I can see it left our warehouse on Friday.",
    "When will it arrive? I need it before the weekend.",
    'The carrier says "out for delivery" today, between 14:00 and 18:00.',
    "Great, thank you so much 🙂",
    "Anything else I can help you with?",
    "No, that's all.",
    "Have a nice day!",
]


def database_url(name: str) -> str:
    return f"postgres://{PG['user']}@{PG['host']}:{PG['port']}/{name}"


def psql(database: str, *args: str, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    command = ["psql", "-h", PG["host"], "-p", PG["port"], "-U", PG["user"], "-d", database]
    return subprocess.run([*command, "-v", "ON_ERROR_STOP=1", *args], check=True, **kwargs)  # type: ignore[call-overload,no-any-return]


def ensure_database(name: str, rebuild: bool) -> bool:
    """Create the bench database if needed; True when it must be filled."""
    exists = psql(
        "postgres",
        "-Atc",
        f"SELECT 1 FROM pg_database WHERE datname = '{name}'",
        capture_output=True,
    ).stdout.strip()
    if exists and not rebuild:
        return False
    if exists:
        psql("postgres", "-qc", f'DROP DATABASE "{name}"')
    psql("postgres", "-qc", f'CREATE DATABASE "{name}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url(name)},
        check=True,
    )
    return True


def fill(conversations: int, per_conversation: int) -> None:
    """COPY customers, advisers, conversations and messages, ids from 1.

    Conversation n opens n minutes after START, so "the first k conversations"
    is the filter ``opened_before=START + (k - 1) minutes``.
    """
    from django.db import connection

    customers = max(1, conversations // 5)
    now = datetime.now(UTC)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        with cursor.copy(
            "COPY conversations_customer (id, closer_id, api_key, first_name, last_name,"
            " random_name, email, phone, field_times, created_at, updated_at) FROM STDIN"
        ) as copy:
            for n in range(1, customers + 1):
                copy.write_row(
                    (
                        n,
                        f"customer-{n:08}",
                        "widget-key",
                        f"First{n}",
                        f"Last{n}",
                        f"Alias {n}",
                        f"customer{n}@example.com",
                        f"+4812{n:07}",
                        "{}",
                        now,
                        now,
                    )
                )
        with cursor.copy(
            "COPY conversations_adviser (id, closer_id, first_name, last_name, email, is_bot,"
            " field_times, created_at, updated_at) FROM STDIN"
        ) as copy:
            for n in range(1, ADVISERS + 1):
                copy.write_row(
                    (
                        n,
                        f"adviser-{n:03}",
                        f"Agent{n}",
                        "Smith",
                        f"agent{n}@closer.app",
                        n == ADVISERS,
                        "{}",
                        now,
                        now,
                    )
                )
        context = '{"currentPage": "https://example.com/shop", "browserName": "Firefox"}'
        with cursor.copy(
            "COPY conversations_conversation (id, customer_id, assignee_id, closer_id, status,"
            " closed_type, opened_at, closed_at, created_event_ms, closed_event_ms,"
            " created_event_missing, visitor_context, message_count, preview, created_at,"
            " updated_at) FROM STDIN"
        ) as copy:
            for n in range(1, conversations + 1):
                opened = START + timedelta(minutes=n - 1)
                closed = opened + timedelta(seconds=per_conversation * 20)
                copy.write_row(
                    (
                        n,
                        (n - 1) % customers + 1,
                        (n - 1) % ADVISERS + 1,
                        "",
                        "closed",
                        "solved",
                        opened,
                        closed,
                        int(opened.timestamp() * 1000),
                        int(closed.timestamp() * 1000),
                        False,
                        context,
                        per_conversation,
                        PHRASES[0],
                        now,
                        now,
                    )
                )
        with cursor.copy(
            "COPY conversations_message (id, conversation_id, author_role, author_closer_id,"
            " author_email, author_phone, text, sent_at, fingerprint) FROM STDIN"
        ) as copy:
            message_id = 0
            for n in range(1, conversations + 1):
                opened = START + timedelta(minutes=n - 1)
                customer = (n - 1) % customers + 1
                for i in range(per_conversation):
                    message_id += 1
                    customer_turn = i % 2 == 0
                    copy.write_row(
                        (
                            message_id,
                            n,
                            "CUSTOMER" if customer_turn else "ADVISER",
                            f"customer-{customer:08}"
                            if customer_turn
                            else f"adviser-{(n - 1) % ADVISERS + 1:03}",
                            f"customer{customer}@example.com" if customer_turn else "",
                            "",
                            f"{PHRASES[i % len(PHRASES)]} (#{message_id})",
                            opened + timedelta(seconds=20 * i),
                            f"{message_id:064x}",
                        )
                    )
        for table in ("customer", "adviser", "conversation", "message"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('conversations_{table}', 'id'),"
                f" (SELECT max(id) FROM conversations_{table}))"
            )
    connection.close()
    print(
        f"built {conversations:,} conversations, {conversations * per_conversation:,} messages"
        f" with COPY in {time.perf_counter() - started:.1f}s",
        flush=True,
    )


def api_token() -> str:
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    user, _ = User.objects.get_or_create(
        username="bench", defaults={"is_staff": True, "is_superuser": True}
    )
    return Token.objects.get_or_create(user=user)[0].key


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(database: str, port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "closerarchive.wsgi",
            "--workers",
            "1",
            "--bind",
            f"127.0.0.1:{port}",
            "--timeout",
            "600",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": database_url(database),
            "DEBUG": "0",
            "API_USER_THROTTLE_RATE": "100000/hour",
        },
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("gunicorn did not start")


def worker_pid(master: int) -> int:
    """The one gunicorn worker (the master binds the port before forking it)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise SystemExit("gunicorn started no worker")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read_stream(stream: object, chunk: int = 1 << 16) -> tuple[int, int]:
    """Bytes and lines read from a file-like object until it ends."""
    total = lines = 0
    while data := stream.read(chunk):  # type: ignore[attr-defined]
        total += len(data)
        lines += data.count(b"\n")
    return total, lines


def get(port: int, path: str, headers: dict[str, str]) -> tuple[int, int]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        if response.status != 200:
            raise SystemExit(f"GET {path}: {response.status} {response.read()[:200]!r}")
        return read_stream(response)
    finally:
        connection.close()


def export_over_http(database: str, token: str, opened_before: str) -> dict[str, float]:
    port = free_port()
    server = start_server(database, port)
    try:
        worker = worker_pid(server.pid)
        path = "/api/v1/export/conversations.ndjson?opened_before="
        headers = {"Authorization": f"Token {token}"}
        # A first tiny request so imports and connection set-up are not timed.
        get(port, path + "2000-01-01T00:00:00Z", headers)
        idle_rss = peak_rss_mb(worker)
        cpu_before = cpu_seconds(worker)
        started = time.perf_counter()
        size, lines = get(port, path + opened_before, headers)
        seconds = time.perf_counter() - started
        worker_cpu = cpu_seconds(worker) - cpu_before
        return {
            "seconds": seconds,
            "bytes": size,
            "lines": lines,
            "idle_rss": idle_rss,
            "peak_rss": peak_rss_mb(worker),
            "worker_cpu": worker_cpu,
        }
    finally:
        server.terminate()
        server.wait(timeout=30)


def copy_with_psql(database: str, opened_before: str) -> dict[str, float]:
    query = (
        "COPY (SELECT m.conversation_id, m.id, m.sent_at, m.author_role, m.author_closer_id,"
        " m.author_email, m.author_phone, m.text FROM conversations_message m"
        " WHERE m.conversation_id IN (SELECT id FROM conversations_conversation"
        f" WHERE opened_at <= '{opened_before}')"
        " ORDER BY m.conversation_id, m.sent_at, m.id) TO STDOUT"
    )
    command = [
        "psql",
        "-h",
        PG["host"],
        "-p",
        PG["port"],
        "-U",
        PG["user"],
        "-d",
        database,
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        query,
    ]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE)
    size, lines = read_stream(child.stdout)
    if child.wait() != 0:
        raise SystemExit("psql COPY failed")
    return {"seconds": time.perf_counter() - started, "bytes": size, "lines": lines}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="ca_api_bench")
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages-per-conversation", type=int, default=10)
    parser.add_argument("--rebuild", action="store_true")
    options = parser.parse_args()

    must_fill = ensure_database(options.database, options.rebuild)
    os.environ["DATABASE_URL"] = database_url(options.database)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "closerarchive.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    if must_fill:
        fill(options.conversations, options.messages_per_conversation)
        psql(options.database, "-qc", "VACUUM ANALYZE")
    token = api_token()

    print(
        f"{'messages':>10} {'export s':>9} {'export msg/s':>13} {'COPY s':>7}"
        f" {'COPY msg/s':>11} {'ratio':>6} {'idle RSS':>9} {'peak RSS':>9}"
    )
    for share in (10, 1):
        conversations = options.conversations // share
        messages = conversations * options.messages_per_conversation
        last_opened = START + timedelta(minutes=conversations - 1)
        opened_before = last_opened.strftime("%Y-%m-%dT%H:%M:%SZ")
        # COPY just before and just after the export, and their mean: on a
        # shared machine the load drifts, and one COPY on one side of the
        # export would carry the drift into the ratio.
        before = copy_with_psql(options.database, opened_before)
        export = export_over_http(options.database, token, opened_before)
        after = copy_with_psql(options.database, opened_before)
        copied = {**after, "seconds": (before["seconds"] + after["seconds"]) / 2}
        if export["lines"] != conversations or {before["lines"], after["lines"]} != {messages}:
            raise SystemExit(f"wrong counts: {export['lines']} lines, {after['lines']} rows")
        print(
            f"{messages:>10,} {export['seconds']:>9.2f} {messages / export['seconds']:>13,.0f}"
            f" {copied['seconds']:>7.2f} {messages / copied['seconds']:>11,.0f}"
            f" {export['seconds'] / copied['seconds']:>5.2f}x"
            f" {export['idle_rss']:>7.1f}MB {export['peak_rss']:>7.1f}MB",
            flush=True,
        )
        print(
            f"{'':>10} NDJSON {export['bytes'] / 2**20:,.0f} MiB, COPY text"
            f" {copied['bytes'] / 2**20:,.0f} MiB; web worker CPU {export['worker_cpu']:.1f}s"
            f" of {export['seconds']:.1f}s; COPY {before['seconds']:.2f}s before,"
            f" {after['seconds']:.2f}s after; load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
