"""Every bench of the archive at scale, in one run, as one table.

    .venv/bin/python bench/scale.py [--sizes 1000000,10000000]
        [--only search,export,backfill,workers] [--logs DIR]

For each size, runs ``bench/search.py``, ``bench/export.py`` and
``bench/backfill.py`` as subprocesses with ``--messages N --json PATH``, one
after the other (their output goes to the terminal as they run, and to
``--logs``); then ``bench/workers.py`` once with ``--json PATH``: it measures
the workers on an archive it empties before each run, so its figures do not
depend on the size. Each bench writes its figures as flat JSON; this script
knows none of their keys and prints each bench's as rows, one column per
size. A bench that fails (exit status, or no JSON) is reported as failed and
the others still run; the exit status is then 1.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SIZED = ("search", "export", "backfill")  # run once per size, with --messages
UNSIZED = ("workers",)  # run once


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000000,10000000", help="messages, comma-separated")
    parser.add_argument("--only", default=",".join(SIZED + UNSIZED), help="benches to run")
    parser.add_argument("--logs", type=Path, help="keep each bench's output and JSON here")
    options = parser.parse_args()
    try:
        sizes = [int(size) for size in options.sizes.split(",")]
    except ValueError:
        parser.error("--sizes: whole numbers of messages, comma-separated")
    benches = options.only.split(",")
    if unknown := set(benches) - set(SIZED + UNSIZED):
        parser.error(f"--only: unknown bench {', '.join(sorted(unknown))}")
    logs = options.logs or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    logs.mkdir(parents=True, exist_ok=True)

    # results[bench][column] = figures, or an error string
    results: dict[str, dict[str, dict[str, Any] | str]] = {}
    for size in sizes:
        for bench in (name for name in SIZED if name in benches):
            results.setdefault(bench, {})[label(size)] = run(bench, logs, "--messages", str(size))
    for bench in (name for name in UNSIZED if name in benches):
        results[bench] = {"any size": run(bench, logs)}

    print(f"\n# Benches at scale ({', '.join(label(size) for size in sizes)} messages)")
    for bench, columns in results.items():
        print_table(bench, columns)
    print(f"\noutputs and JSON: {logs}")
    if any(
        isinstance(figures, str) for columns in results.values() for figures in columns.values()
    ):
        sys.exit(1)


def label(size: int) -> str:
    return f"{size / 1e6:g}M" if size >= 1_000_000 else f"{size:,}"


def run(bench: str, logs: Path, *args: str) -> dict[str, Any] | str:
    """Run one bench; its figures, or why it failed."""
    name = "-".join([bench, *args[1:]])
    output, log = logs / f"{name}.json", logs / f"{name}.log"
    output.unlink(missing_ok=True)
    command = [sys.executable, str(ROOT / "bench" / f"{bench}.py"), *args, "--json", str(output)]
    print(f"\n$ {' '.join(command[1:])}", flush=True)
    started = time.monotonic()
    with log.open("wb") as saved:
        # Shown as it runs (these take minutes) and kept.
        child = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        assert child.stdout is not None
        for line in child.stdout:
            sys.stdout.buffer.write(line)
            sys.stdout.flush()
            saved.write(line)
        status = child.wait()
    minutes = (time.monotonic() - started) / 60
    if status != 0:
        return f"failed (exit {status} after {minutes:.1f} min; {log})"
    try:
        figures = json.loads(output.read_text())
    except (OSError, ValueError) as error:
        return f"failed (no JSON figures: {error})"
    return flatten(figures) if isinstance(figures, dict) else {"result": figures}


def flatten(figures: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects as "outer / inner" keys, so any bench's JSON prints."""
    flat: dict[str, Any] = {}
    for key, value in figures.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key} / "))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def print_table(bench: str, columns: dict[str, dict[str, Any] | str]) -> None:
    keys: list[str] = []
    for figures in columns.values():
        if isinstance(figures, dict):
            keys += [key for key in figures if key not in keys]
    width = max([len(key) for key in keys] + [len(bench) + 2])
    cells = {
        column: {key: cell(figures.get(key)) for key in keys} if isinstance(figures, dict) else {}
        for column, figures in columns.items()
    }
    widths = {
        column: max([len(column), *(len(text) for text in cells[column].values())])
        for column in columns
    }
    print(f"\n## {bench}")
    print(f"{'':<{width}}  " + "  ".join(f"{column:>{widths[column]}}" for column in columns))
    for column, figures in columns.items():
        if isinstance(figures, str):
            print(f"{column}: {figures}")
    for key in keys:
        row = "  ".join(f"{cells[column].get(key, ''):>{widths[column]}}" for column in columns)
        print(f"{key:<{width}}  {row}")


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, list):
        return ", ".join(map(cell, value))
    return str(value)


if __name__ == "__main__":
    main()
