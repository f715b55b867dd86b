"""Benchmark: backfill a generated dump into an empty archive, against COPY.

    DATABASE_URL=postgres://... python bench/backfill.py [--customers 10000]
        [--conversations 5] [--messages 20] [--batch-size N] [--dump PATH]

Generates (or reuses, with --dump) a dump of customers x conversations closed
events with --messages messages each, plus their created events; empties the
archive; runs ``manage.py backfill`` in a child process (peak RSS and CPU
from wait4, and sampled from /proc for its process tree);
then, as the limit, COPYs the same message rows into a plain table (no
indexes) in the same database. Prints events/s, messages/s, the ratio to
COPY and the peak memory. Defaults: 1,000,000 messages.
"""

import argparse
import io
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "closerarchive.settings")

import django

django.setup()

from django.core.management import call_command
from django.db import connection, transaction

from bench.make_dump import DumpShape, write_dump

ARCHIVE_TABLES = [
    "conversations_message",
    "conversations_conversation",
    "conversations_conversationevent",
    "conversations_customer",
    "conversations_adviser",
    "webhooks_inboundevent",
]


def empty_archive() -> None:
    call_command("migrate", verbosity=0)  # a bench database from an older schema
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(ARCHIVE_TABLES)} RESTART IDENTITY CASCADE")
        cursor.execute("CHECKPOINT")  # a checkpoint mid-run would be charged to the backfill


@dataclass
class Usage:
    """What the backfill's processes used, sampled from /proc while it ran."""

    peak_rss_kb: int = 0  # of the process and any children, summed
    # The same in PSS: pages shared between processes counted once.
    peak_pss_kb: int = 0
    cpu_seconds: dict[int, float] = field(default_factory=dict)  # last seen, by pid


def _process_tree(pid: int) -> list[int]:
    pids, pending = [], [pid]
    while pending:
        current = pending.pop()
        pids.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    pending += [int(child) for child in children.read().split()]
        except OSError:
            continue
    return pids


def _sample(pid: int, usage: Usage, done: threading.Event) -> None:
    ticks = os.sysconf("SC_CLK_TCK")
    page_kb = os.sysconf("SC_PAGE_SIZE") // 1024
    while not done.wait(0.05):
        rss = pss = 0
        for current in _process_tree(pid):
            pss += _pss_kb(current)
            try:
                with open(f"/proc/{current}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            usage.cpu_seconds[current] = (int(fields[11]) + int(fields[12])) / ticks
            rss += int(fields[21]) * page_kb
        usage.peak_rss_kb = max(usage.peak_rss_kb, rss)
        usage.peak_pss_kb = max(usage.peak_pss_kb, pss)


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_backfill(dump: Path, batch_size: int | None) -> tuple[float, float, int, str, Usage]:
    """Wall seconds, CPU seconds, peak RSS (kB), stdout of ``manage.py backfill``,
    and the usage sampled from /proc."""
    command = [sys.executable, str(ROOT / "manage.py"), "backfill", str(dump), "--no-progress"]
    if batch_size:
        command += ["--batch-size", str(batch_size)]
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    usage, done = Usage(), threading.Event()
    sampler = threading.Thread(target=_sample, args=(child.pid, usage, done), daemon=True)
    sampler.start()
    assert child.stdout is not None
    output = child.stdout.read()
    done.set()
    sampler.join()
    _, status, rusage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    if status != 0:
        sys.exit(f"backfill failed with status {status}:\n{output}")
    return elapsed, rusage.ru_utime + rusage.ru_stime, rusage.ru_maxrss, output, usage


MESSAGE_COLUMNS = (
    "conversation_id, author_role, author_closer_id, author_email, author_phone, text,"
    " sent_at, fingerprint"
)


def copied_out_messages() -> tuple[io.BytesIO, int]:
    """The archived message rows, as COPY text (read before any clock starts)."""
    buffer = io.BytesIO()
    with connection.cursor() as cursor:
        with cursor.cursor.copy(
            f"COPY (SELECT {MESSAGE_COLUMNS} FROM conversations_message) TO STDOUT"
        ) as copy:
            for chunk in copy:
                buffer.write(chunk)
        cursor.execute("SELECT count(*) FROM conversations_message")
        (count,) = cursor.fetchone()
    return buffer, count


def timed_copy(rows: io.BytesIO, table: str) -> float:
    """COPY the rows into ``table`` and commit; return the seconds taken."""
    rows.seek(0)
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")
        started = time.perf_counter()
        with (
            transaction.atomic(),
            cursor.cursor.copy(f"COPY {table} ({MESSAGE_COLUMNS}) FROM STDIN") as copy,
        ):
            while chunk := rows.read(1 << 20):
                copy.write(chunk)
        return time.perf_counter() - started


def copy_baselines(rows: io.BytesIO) -> tuple[float, float]:
    """COPY into a plain table (no index, no key): the database's limit; and
    COPY into the real message table (its 4 indexes and deferred foreign
    key): what the schema alone costs, with no Python in the way."""
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_plain_message")
        cursor.execute(
            "CREATE TABLE bench_plain_message (conversation_id bigint, author_role text,"
            " author_closer_id text, author_email text, author_phone text, text text,"
            " sent_at timestamptz, fingerprint text)"
        )
    plain = timed_copy(rows, "bench_plain_message")
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_plain_message")
        cursor.execute("TRUNCATE conversations_message")
    indexed = timed_copy(rows, "conversations_message")
    return plain, indexed


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
    with open("/proc/loadavg") as loadavg:
        print(f"load average before: {loadavg.read().split()[0]} (2 cores shared)")
    seconds, cpu_seconds, peak_kb, output, usage = run_backfill(dump, args.batch_size)
    print(output.rstrip())
    rows, messages = copied_out_messages()
    copy_seconds, indexed_seconds = copy_baselines(rows)

    print(f"backfill: {seconds:.1f} s wall (process start to exit)")
    print(f"  {events / seconds:,.0f} events/s, {messages / seconds:,.0f} messages/s")
    print(
        f"  peak RSS {peak_kb / 1024:.0f} MB (wait4); its process tree sampled every 50 ms:"
        f" {usage.peak_pss_kb / 1024:.0f} MB PSS, {usage.peak_rss_kb / 1024:.0f} MB RSS summed"
    )
    main_cpu = usage.cpu_seconds.pop(next(iter(usage.cpu_seconds)), 0.0)
    print(
        f"  CPU {cpu_seconds:.1f} s in Python (wait4; sampled: {main_cpu:.1f} s in the"
        f" process, {sum(usage.cpu_seconds.values()):.1f} s in any children)"
    )
    print(f"COPY of the same {messages:,} message rows into a plain table: {copy_seconds:.1f} s")
    print(f"ratio backfill / COPY: {seconds / copy_seconds:.1f}x")
    print(
        f"(COPY of the same rows into conversations_message itself, indexes and foreign key:"
        f" {indexed_seconds:.1f} s, {indexed_seconds / copy_seconds:.1f}x the plain COPY)"
    )


if __name__ == "__main__":
    main()
