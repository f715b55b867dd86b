"""Benchmark: backfill a generated dump into an empty archive, against COPY of the same rows.

    DATABASE_URL=postgres://.../ca_bfpar_bench python bench/backfill.py
        [--messages 1000000] [--workers 1,2] [--rounds 1] [--batch-size N]
        [--dump PATH] [--json PATH]

The dump: ``--messages`` messages, 5 closed conversations of 20 messages per
customer (plus their created events, 2 % missing), made once and reused at
/tmp/bf/bench-<messages>.ndjson (or ``--dump``); 10,000,000 is
make_dump's ``--customers 100000 --conversations 5 --messages 20``.

For each round, for each ``--workers`` count (interleaved): empty the
archive, run ``manage.py backfill DUMP --workers N`` in a child process and
sample its process tree from /proc every 50 ms (CPU, and memory of all its
processes together: PSS summed, the honest figure, as pages shared by the
forked appliers count once; and each process's peak RSS, VmHWM, summed, an
upper bound).

Then, from the archive the last run built, the limit that counts, **the
indexed COPY**: every row the backfill wrote to the archive's own tables
(inbound events, customers, advisers, conversations, ledger events,
messages, metrics) COPYed out to files (untimed), the tables emptied, and
the rows COPYed back in one transaction, with their indexes, constraints
and deferred foreign keys, timed per table. And the old floor: the message
rows COPYed into a plain table with no index or key.

``--json PATH`` writes every figure as one flat JSON object (bench/scale.py
reads it).
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "closerarchive.settings")

import django

django.setup()

from django.core.management import call_command
from django.db import connection, transaction

from bench.make_dump import DumpShape, write_dump

DUMPS = Path("/tmp/bf")  # noqa: S108 (the benches' shared dumps, by convention)
MESSAGES_PER_CUSTOMER = 5 * 20  # 5 conversations of 20 messages
ARCHIVE_TABLES = [
    "conversations_message",
    "conversations_conversation",
    "conversations_conversationevent",
    "conversations_customer",
    "conversations_adviser",
    "webhooks_inboundevent",
]
# What the indexed COPY loads, in an order its foreign keys accept.
COPIED_TABLES = [
    "webhooks_inboundevent",
    "conversations_customer",
    "conversations_adviser",
    "conversations_conversation",
    "conversations_conversationevent",
    "conversations_message",
    "conversations_conversationmetrics",
]
# The rows the issue names (messages, conversations, customers, advisers,
# inbound events); the ledger and the metrics are counted beside them.
NAMED_TABLES = [*COPIED_TABLES[:4], "conversations_message"]


def empty_archive() -> None:
    call_command("migrate", verbosity=0)  # a bench database from an older schema
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(ARCHIVE_TABLES)} RESTART IDENTITY CASCADE")
        cursor.execute("CHECKPOINT")  # a checkpoint mid-run would be charged to the backfill


def load_average() -> float:
    with open("/proc/loadavg") as loadavg:
        return float(loadavg.read().split()[0])


@dataclass
class Usage:
    """What the backfill's processes used, sampled from /proc while it ran."""

    peak_rss_kb: int = 0  # of the process and any children, summed at one instant
    peak_pss_kb: int = 0  # the same in PSS: pages shared between processes counted once
    hwm_kb: dict[int, int] = field(default_factory=dict)  # each process's VmHWM, by pid
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
            pss += _status_kb(f"/proc/{current}/smaps_rollup", "Pss:")
            hwm = _status_kb(f"/proc/{current}/status", "VmHWM:")
            usage.hwm_kb[current] = max(usage.hwm_kb.get(current, 0), hwm)
            try:
                with open(f"/proc/{current}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            usage.cpu_seconds[current] = (int(fields[11]) + int(fields[12])) / ticks
            rss += int(fields[21]) * page_kb
        usage.peak_rss_kb = max(usage.peak_rss_kb, rss)
        usage.peak_pss_kb = max(usage.peak_pss_kb, pss)


def _status_kb(path: str, key: str) -> int:
    try:
        with open(path) as lines:
            for line in lines:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_backfill(dump: Path, workers: int, batch_size: int | None) -> tuple[float, str, Usage]:
    """Wall seconds and stdout of ``manage.py backfill``, and the usage sampled."""
    command = [sys.executable, str(ROOT / "manage.py"), "backfill", str(dump), "--no-progress"]
    command += ["--workers", str(workers)]
    if batch_size:
        command += ["--batch-size", str(batch_size)]
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    usage, done = Usage(), threading.Event()
    sampler = threading.Thread(target=_sample, args=(child.pid, usage, done), daemon=True)
    sampler.start()
    assert child.stdout is not None
    output = child.stdout.read()
    status = child.wait()
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    if status != 0:
        sys.exit(f"backfill failed with status {status}:\n{output}")
    return elapsed, output, usage


def copy_out(table: str, path: Path, query: str | None = None) -> None:
    """``table`` (or ``query``) to a binary COPY file, streamed."""
    source = f"({query})" if query else table
    with (
        connection.cursor() as cursor,
        path.open("wb") as out,
        cursor.cursor.copy(f"COPY {source} TO STDOUT (FORMAT BINARY)") as copy,
    ):
        for chunk in copy:
            out.write(chunk)


def copy_in(cursor: Any, table: str, path: Path, columns: str = "") -> None:
    with (
        path.open("rb") as rows,
        cursor.cursor.copy(f"COPY {table} {columns} FROM STDIN (FORMAT BINARY)") as copy,
    ):
        while chunk := rows.read(1 << 20):
            copy.write(chunk)


def indexed_copy(folder: Path) -> dict[str, float]:
    """Seconds to COPY back every archived row into its own (emptied) table,
    per table, and the commit (deferred foreign keys); one transaction."""
    for table in COPIED_TABLES:
        copy_out(table, folder / f"{table}.copy")
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(COPIED_TABLES)} CASCADE")
        cursor.execute("CHECKPOINT")
    seconds: dict[str, float] = {}
    with connection.cursor() as cursor:
        transaction.set_autocommit(False)
        try:
            cursor.execute("SET LOCAL synchronous_commit = off")  # as the backfill's batches
            for table in COPIED_TABLES:
                started = time.perf_counter()
                copy_in(cursor, table, folder / f"{table}.copy")
                seconds[table] = time.perf_counter() - started
            started = time.perf_counter()
            transaction.commit()
            seconds["commit"] = time.perf_counter() - started
        finally:
            transaction.set_autocommit(True)
    for table in COPIED_TABLES:
        (folder / f"{table}.copy").unlink()
    return seconds


MESSAGE_COLUMNS = (
    "conversation_id, author_role, author_closer_id, author_email, author_phone, text,"
    " sent_at, fingerprint"
)


def plain_copy(folder: Path) -> float:
    """Seconds to COPY the message rows into a plain table (no index, no key)."""
    rows = folder / "plain.copy"
    copy_out("", rows, f"SELECT {MESSAGE_COLUMNS} FROM conversations_message")
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_plain_message")
        cursor.execute(
            "CREATE TABLE bench_plain_message (conversation_id bigint, author_role text,"
            " author_closer_id text, author_email text, author_phone text, text text,"
            " sent_at timestamptz, fingerprint text)"
        )
        cursor.execute("CHECKPOINT")
        started = time.perf_counter()
        with transaction.atomic():
            copy_in(cursor, "bench_plain_message", rows, f"({MESSAGE_COLUMNS})")
        seconds = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_plain_message")
    rows.unlink()
    return seconds


def dump_for(messages: int, path: Path | None) -> Path:
    dump = path or DUMPS / f"bench-{messages}.ndjson"
    if dump.exists():
        return dump
    dump.parent.mkdir(parents=True, exist_ok=True)
    shape = DumpShape(
        customers=max(1, messages // MESSAGES_PER_CUSTOMER),
        conversations=5,
        min_messages=20,
        max_messages=20,
        created_missing=0.02,
        open_rate=0.0,
        unknown_events=0.0,
    )
    started = time.perf_counter()
    with dump.open("w", encoding="utf-8") as out:
        write_dump(shape, out)
    print(f"generated {dump} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return dump


def summary_value(output: str, name: str) -> int:
    for line in output.splitlines():
        if line.startswith(f"{name}: "):
            return int(line.split(": ", 1)[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000, help="messages in the dump")
    parser.add_argument("--workers", default="1,2", help="counts to compare, e.g. 1,2")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--dump", type=Path, help="reuse (or make) the dump at this path")
    parser.add_argument("--json", type=Path, help="write the figures here as a JSON object")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("set DATABASE_URL to a PostgreSQL database")
    worker_counts = [int(n) for n in args.workers.split(",")]

    dump = dump_for(args.messages, args.dump)
    events = sum(1 for _ in dump.open("rb"))
    figures: dict[str, Any] = {
        "dump": str(dump),
        "dump_mb": round(dump.stat().st_size / 1e6),
        "events": events,
    }
    print(f"dump: {dump} ({figures['dump_mb']} MB, {events} events)")

    runs: dict[int, list[float]] = {n: [] for n in worker_counts}
    for round_number in range(args.rounds):
        for workers in worker_counts:
            empty_archive()
            load = load_average()
            seconds, output, usage = run_backfill(dump, workers, args.batch_size)
            messages = summary_value(output, "new messages")
            runs[workers].append(seconds)
            main_cpu = usage.cpu_seconds.pop(next(iter(usage.cpu_seconds)), 0.0)
            children_cpu = sum(usage.cpu_seconds.values())
            print(
                f"round {round_number + 1}, --workers {workers}: {seconds:.1f} s,"
                f" {messages / seconds:,.0f} messages/s (load before {load:.2f});"
                f" peak PSS {usage.peak_pss_kb / 1024:.0f} MB, RSS summed"
                f" {usage.peak_rss_kb / 1024:.0f} MB, VmHWM summed"
                f" {sum(usage.hwm_kb.values()) / 1024:.0f} MB"
                f" ({len(usage.hwm_kb)} processes); CPU {main_cpu:.1f} s reading,"
                f" {children_cpu:.1f} s in appliers"
            )
            prefix = f"w{workers}"
            figures.update(
                {
                    "messages": messages,
                    f"{prefix}_seconds": round(min(runs[workers]), 2),
                    f"{prefix}_messages_per_s": round(messages / min(runs[workers])),
                    f"{prefix}_peak_pss_mb": round(usage.peak_pss_kb / 1024),
                    f"{prefix}_peak_rss_sum_mb": round(usage.peak_rss_kb / 1024),
                    f"{prefix}_vmhwm_sum_mb": round(sum(usage.hwm_kb.values()) / 1024),
                    f"{prefix}_cpu_seconds": round(main_cpu + children_cpu, 1),
                    f"{prefix}_load_before": load,
                }
            )
            if round_number == 0:
                print(output.rstrip())

    load = load_average()
    copy_seconds = indexed_copy(DUMPS)
    named = sum(copy_seconds[t] for t in NAMED_TABLES) + copy_seconds["commit"]
    every = sum(copy_seconds.values())
    plain = plain_copy(DUMPS)
    print(f"indexed COPY of the archived rows (load before {load:.2f}), one transaction:")
    for table, seconds in copy_seconds.items():
        print(f"  {table}: {seconds:.1f} s")
    print(f"  the five named tables: {named:.1f} s; with the ledger and metrics: {every:.1f} s")
    print(f"plain COPY of the message rows (no index, no key): {plain:.1f} s")
    figures.update(
        {
            "indexed_copy_seconds": round(every, 2),
            "indexed_copy_named_tables_seconds": round(named, 2),
            "plain_copy_seconds": round(plain, 2),
            "copy_load_before": load,
        }
        | {f"copy_{table}_seconds": round(s, 2) for table, s in copy_seconds.items()}
    )
    for workers in worker_counts:
        best = min(runs[workers])
        ratio = best / every
        figures[f"w{workers}_ratio_to_indexed_copy"] = round(ratio, 2)
        print(
            f"--workers {workers}: best {best:.1f} s, {ratio:.1f}x the indexed COPY"
            f" ({best / plain:.1f}x the plain COPY)"
        )
    if len(worker_counts) > 1:
        first, last = worker_counts[0], worker_counts[-1]
        speedup = min(runs[first]) / min(runs[last])
        figures[f"speedup_w{last}_over_w{first}"] = round(speedup, 2)
        print(f"--workers {last} is {speedup:.2f}x as fast as --workers {first}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
