"""Benchmark: what retention's conversation index costs the backfill.

    DATABASE_URL=postgres://... python bench/retention_index.py [--customers 4000]
        [--rounds 3]

``conversation_retention_idx`` (anonymised_at, COALESCE(closed_at, opened_at))
is written on every conversation insert, retention on or off. This backfills
the same generated dump into an empty archive with the index and without it
(dropped for the run), in interleaved rounds (the order alternating), and
prints each run's wall time and the median ratio of "with" to "without".
The index is there again at the end. Defaults: 20,000 conversations and
about 200,000 messages.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "closerarchive.settings")

import django

django.setup()

from django.db import connection

from bench.backfill import empty_archive
from bench.make_dump import DumpShape, write_dump
from conversations.models import Conversation

INDEX = next(i for i in Conversation._meta.indexes if i.name == "conversation_retention_idx")


def set_index(present: bool) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX IF EXISTS {INDEX.name}")
    if present:
        with connection.schema_editor() as editor:
            editor.add_index(Conversation, INDEX)


def backfill_seconds(dump: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "backfill", str(dump), "--no-progress"],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=4_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    shape = DumpShape(customers=args.customers, conversations=5, min_messages=1, max_messages=19)
    with tempfile.TemporaryDirectory() as folder:
        dump = Path(folder) / "dump.ndjson"
        with dump.open("w") as out:
            messages = write_dump(shape, out)
        print(f"dump: {args.customers * 5} closed conversations, {messages} messages")
        times: dict[bool, list[float]] = {True: [], False: []}
        try:
            for number in range(args.rounds):
                for present in (True, False) if number % 2 == 0 else (False, True):
                    empty_archive()
                    set_index(present)
                    seconds = backfill_seconds(dump)
                    times[present].append(seconds)
                    label = "with" if present else "without"
                    print(f"round {number + 1}, {label} the index: {seconds:.2f} s")
        finally:
            set_index(True)
    ratio = statistics.median(times[True]) / statistics.median(times[False])
    print(f"median with / without: {ratio:.3f}")


if __name__ == "__main__":
    main()
