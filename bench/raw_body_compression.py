"""Server CPU to stage a dump's raw bodies and move them into a table, pglz vs lz4.

    DATABASE_URL=postgres://.../SCRATCH python bench/raw_body_compression.py DUMP [--events N]

What the backfill does with each batch's raw bodies (bench/backfill.py's
dump): COPY 1000 of them into a temporary stage, then INSERT .. SELECT into a
table, a transaction per batch. Run once with the stage compressing with
pglz (the server's default) and once with lz4 (the backfill's batch
transactions set ``default_toast_compression = lz4``). Prints wall time,
the server process's CPU (from /proc: run it on the database host) and the
table's size.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.message_table_costs import dsn, server_cpu_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dump", type=Path)
    parser.add_argument("--events", type=int, default=50_000)
    args = parser.parse_args()
    with args.dump.open("rb") as dump:
        bodies = [line.rstrip(b"\n") for _, line in zip(range(args.events), dump, strict=False)]
    print(f"{len(bodies)} raw bodies, {sum(map(len, bodies)) / 1e6:.0f} MB")
    with psycopg.connect(dsn(os.environ["DATABASE_URL"]), autocommit=True) as conn:
        (pid,) = conn.execute("SELECT pg_backend_pid()").fetchone() or (0,)
        for method in ("pglz", "lz4"):
            conn.execute("DROP TABLE IF EXISTS bench_inbox")
            conn.execute("CREATE TABLE bench_inbox (position int, raw_body bytea)")
            started, cpu = time.perf_counter(), server_cpu_seconds(pid)
            for first in range(0, len(bodies), 1000):
                with conn.transaction():
                    conn.execute(f"SET LOCAL default_toast_compression = {method}")
                    conn.execute(
                        "CREATE TEMPORARY TABLE IF NOT EXISTS bench_stage"
                        " (position int, raw_body bytea) ON COMMIT DELETE ROWS"
                    )
                    copy_in = "COPY bench_stage FROM STDIN (FORMAT BINARY)"
                    with conn.cursor().copy(copy_in) as copy:
                        copy.set_types(["int4", "bytea"])
                        for position, body in enumerate(bodies[first : first + 1000]):
                            copy.write_row((position, body))
                    conn.execute("INSERT INTO bench_inbox SELECT * FROM bench_stage")
            (size,) = conn.execute("SELECT pg_total_relation_size('bench_inbox')").fetchone() or (
                0,
            )
            print(
                f"{method}: {time.perf_counter() - started:.1f} s wall,"
                f" {server_cpu_seconds(pid) - cpu:.1f} s server CPU, table {size / 1e6:.0f} MB"
            )
        conn.execute("DROP TABLE bench_inbox")


if __name__ == "__main__":
    main()
