"""Benchmark: backfill a generated dump into an empty archive, against COPY.

    DATABASE_URL=postgres://... python bench/backfill.py [--customers 10000]
        [--conversations 5] [--messages 20] [--batch-size N] [--dump PATH]

Generates (or reuses, with --dump) a dump of customers x conversations closed
events with --messages messages each, plus their created events; empties the
archive; runs ``manage.py backfill`` in a child process (so its peak RSS can
be read from wait4); then, as the limit, COPYs the same message rows into a
plain table (no indexes) in the same database. Prints events/s, messages/s,
the ratio to COPY and the peak RSS. Defaults: 1,000,000 messages.
"""

import argparse
import csv
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "closerarchive.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

from bench.make_dump import DumpShape, write_dump  # noqa: E402

ARCHIVE_TABLES = [
    "conversations_message",
    "conversations_conversation",
    "conversations_conversationevent",
    "conversations_customer",
    "conversations_adviser",
    "webhooks_inboundevent",
]


def empty_archive() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(ARCHIVE_TABLES)} RESTART IDENTITY CASCADE")
        cursor.execute("CHECKPOINT")  # a checkpoint mid-run would be charged to the backfill


def run_backfill(dump: Path, batch_size: int | None) -> tuple[float, int, str]:
    """Seconds, peak RSS (kB) and stdout of ``manage.py backfill``."""
    command = [sys.executable, str(ROOT / "manage.py"), "backfill", str(dump), "--no-progress"]
    if batch_size:
        command += ["--batch-size", str(batch_size)]
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    if status != 0:
        sys.exit(f"backfill failed with status {status}:\n{output}")
    return elapsed, usage.ru_maxrss, output


def message_rows_as_text(dump: Path) -> tuple[io.BytesIO, int]:
    """The dump's messages as COPY text rows, built before the clock starts."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\")
    count = 0
    with dump.open(encoding="utf-8") as lines:
        for conversation_id, line in enumerate(lines):
            event = json.loads(line)
            for message in event.get("messageHistory") or ():
                author = message["author"]
                writer.writerow(
                    [
                        conversation_id,
                        author["role"],
                        author["id"],
                        author["email"] or "",
                        author["phone"] or "",
                        message["message"].replace("\t", " ").replace("\n", " "),
                        message["timestamp"],
                        f"{count:064x}",
                    ]
                )
                count += 1
    return io.BytesIO(buffer.getvalue().encode()), count


def copy_baseline(rows: io.BytesIO) -> float:
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_plain_message")
        cursor.execute(
            "CREATE TABLE bench_plain_message (conversation_id bigint, author_role text,"
            " author_closer_id text, author_email text, author_phone text, text text,"
            " sent_ms bigint, fingerprint text)"
        )
        cursor.execute("CHECKPOINT")
        started = time.perf_counter()
        with cursor.cursor.copy("COPY bench_plain_message FROM STDIN") as copy:
            while chunk := rows.read(1 << 20):
                copy.write(chunk)
        connection.commit() if not connection.get_autocommit() else None
        elapsed = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_plain_message")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--conversations", type=int, default=5)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--dump", type=Path, help="reuse (or keep) the dump at this path")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("set DATABASE_URL to a PostgreSQL database")

    dump = args.dump or Path(tempfile.mkdtemp()) / "bench-dump.ndjson"
    if not dump.exists():
        shape = DumpShape(
            customers=args.customers,
            conversations=args.conversations,
            min_messages=args.messages,
            max_messages=args.messages,
            created_missing=0.02,
            open_rate=0.0,
            unknown_events=0.0,
        )
        started = time.perf_counter()
        with dump.open("w", encoding="utf-8") as out:
            write_dump(shape, out)
        print(f"generated {dump} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    events = sum(1 for _ in dump.open("rb"))
    print(f"dump: {dump} ({dump.stat().st_size / 1e6:.0f} MB, {events} events)")

    empty_archive()
    seconds, peak_kb, output = run_backfill(dump, args.batch_size)
    print(output.rstrip())
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM conversations_message")
        (messages,) = cursor.fetchone()

    rows, copied = message_rows_as_text(dump)
    copy_seconds = copy_baseline(rows)

    print(f"backfill: {seconds:.1f} s wall (process start to exit)")
    print(f"  {events / seconds:,.0f} events/s, {messages / seconds:,.0f} messages/s")
    print(f"  peak RSS {peak_kb / 1024:.0f} MB")
    print(f"COPY of the same {copied:,} message rows into a plain table: {copy_seconds:.1f} s")
    print(f"ratio backfill / COPY: {seconds / copy_seconds:.1f}x")


if __name__ == "__main__":
    main()
