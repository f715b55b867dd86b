"""Benchmark: the NDJSON and CSV exports of a whole archive over real HTTP,
against psql's COPY of the same rows.

    python bench/export.py [--messages 1000000|10000000] [--rounds 1] [--formats ndjson,csv]
        [--json PATH]

Uses the benches' archive of ``--messages`` messages (``bench/archive.py``:
``ca_scale_1m``, ``ca_scale_10m``; built on first use, reused afterwards).
For each format, in turn (``--rounds`` times):

1. ``psql -c "COPY (SELECT <the same rows, same order>) TO STDOUT"``: for
   NDJSON the messages' columns (text format), for CSV the messages with
   their customer's and adviser's columns (``FORMAT csv``), the CSV export's
   rows before its naming and spreadsheet rules;
2. a fresh gunicorn (one sync worker) streams
   ``GET /api/v1/export/conversations.ndjson`` or ``/api/v1/export/messages.csv``
   (no filter: everything) and the worker's peak RSS (VmHWM) is read once
   the body has ended; a fresh server for each export, so the peak is that
   export's alone;
3. the same COPY again; the ratio is the export's time over the mean of the
   two COPYs (on a shared machine the load drifts).

Both clients read the whole stream and count it.
"""

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.archive import Archive, archive_for, open_archive, recorded_parameters

EXPORTS = {
    "ndjson": "/api/v1/export/conversations.ndjson",
    "csv": "/api/v1/export/messages.csv",
}
ORDER = "ORDER BY m.conversation_id, m.sent_at, m.id"
# The same rows as each export, as plain COPY writes them.
BASELINES = {
    "ndjson": "COPY (SELECT m.conversation_id, m.id, m.sent_at, m.author_role,"
    " m.author_closer_id, m.author_email, m.author_phone, m.text"
    f" FROM conversations_message m {ORDER}) TO STDOUT",
    "csv": "COPY (SELECT m.id, m.conversation_id, m.sent_at, m.author_role,"
    " m.author_closer_id, m.author_email, m.author_phone, m.text, cu.closer_id,"
    " cu.first_name, cu.last_name, cu.random_name, cu.email, cu.phone, a.closer_id,"
    " a.first_name, a.last_name, a.email FROM conversations_message m"
    " JOIN conversations_conversation c ON c.id = m.conversation_id"
    " JOIN conversations_customer cu ON cu.id = c.customer_id"
    f" LEFT JOIN conversations_adviser a ON a.id = c.assignee_id {ORDER}) TO STDOUT (FORMAT csv)",
}


def api_token() -> str:
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    # Its own user: the archive is shared with the other benches.
    user, _ = User.objects.get_or_create(
        username="bench-export", defaults={"is_staff": True, "is_superuser": True}
    )
    return Token.objects.get_or_create(user=user)[0].key


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(archive: Archive, port: int) -> subprocess.Popen[bytes]:
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
            "3600",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": archive.url,
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
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        if response.status != 200:
            raise SystemExit(f"GET {path}: {response.status} {response.read()[:200]!r}")
        return read_stream(response)
    finally:
        connection.close()


def export_over_http(archive: Archive, token: str, path: str) -> dict[str, float]:
    port = free_port()
    server = start_server(archive, port)
    try:
        worker = worker_pid(server.pid)
        headers = {"Authorization": f"Token {token}"}
        # A first tiny request so imports and connection set-up are not timed.
        get(port, path + "?opened_before=2000-01-01T00:00:00Z", headers)
        idle_rss = peak_rss_mb(worker)
        cpu_before = cpu_seconds(worker)
        started = time.perf_counter()
        size, lines = get(port, path, headers)
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


def copy_with_psql(archive: Archive, query: str) -> dict[str, float]:
    command = ["psql", "-d", archive.url, "-v", "ON_ERROR_STOP=1", "-c", query]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE)
    size, lines = read_stream(child.stdout)
    if child.wait() != 0:
        raise SystemExit("psql COPY failed")
    return {"seconds": time.perf_counter() - started, "bytes": size, "lines": lines}


def measure(archive: Archive, token: str, kind: str) -> dict[str, float]:
    """One export between two COPYs of the same rows."""
    before = copy_with_psql(archive, BASELINES[kind])
    export = export_over_http(archive, token, EXPORTS[kind])
    after = copy_with_psql(archive, BASELINES[kind])
    # NDJSON: a line a conversation; CSV: a header and the COPY's lines (a
    # text with a newline spans lines in both).
    expected = archive.conversations if kind == "ndjson" else after["lines"] + 1
    if export["lines"] != expected or before["lines"] != after["lines"]:
        raise SystemExit(
            f"wrong counts: {kind} {export['lines']} lines, COPY {after['lines']} lines"
        )
    copy_seconds = (before["seconds"] + after["seconds"]) / 2
    result = {
        **export,
        "copy_seconds": copy_seconds,
        "copy_bytes": after["bytes"],
        "ratio": export["seconds"] / copy_seconds,
        "load": os.getloadavg()[0],
    }
    print(
        f"{kind:>6} {archive.messages:>11,} {export['seconds']:>9.2f}"
        f" {archive.messages / export['seconds']:>12,.0f} {copy_seconds:>7.2f}"
        f" {result['ratio']:>5.2f}x {export['idle_rss']:>7.1f}MB {export['peak_rss']:>7.1f}MB"
        f"   ({export['bytes'] / 2**20:,.0f} MiB against COPY's {after['bytes'] / 2**20:,.0f};"
        f" COPY {before['seconds']:.2f}s before, {after['seconds']:.2f}s after;"
        f" web worker CPU {export['worker_cpu']:.1f}s; load {result['load']:.1f})",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument(
        "--rounds", type=int, default=1, help="each format in turn, this many times"
    )
    parser.add_argument("--formats", default="ndjson,csv", help="a subset of ndjson,csv")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    options = parser.parse_args()
    kinds = options.formats.split(",")
    if not set(kinds) <= set(EXPORTS):
        parser.error("--formats: ndjson, csv or both")

    recorded = recorded_parameters(archive_for(options.messages))
    if recorded is not None and recorded != asdict(archive_for(options.messages)):
        # Shared with the other benches: never rebuilt behind their back.
        sys.exit(
            f"{recorded['database']} was built with other parameters ({recorded}); "
            f"rebuild it with bench/archive.py --messages {options.messages} --rebuild"
        )
    archive = open_archive(options.messages)
    token = api_token()
    print(
        f"{'format':>6} {'messages':>11} {'export s':>9} {'messages/s':>12} {'COPY s':>7}"
        f" {'ratio':>6} {'idle RSS':>9} {'peak RSS':>9}"
    )
    results: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    for _ in range(options.rounds):
        for kind in kinds:
            results[kind].append(measure(archive, token, kind))
    figures: dict[str, float] = {}
    for kind, runs in results.items():
        figures[f"{kind} export s"] = round(statistics.median(r["seconds"] for r in runs), 2)
        figures[f"{kind} COPY s"] = round(statistics.median(r["copy_seconds"] for r in runs), 2)
        figures[f"{kind} ratio to COPY"] = round(statistics.median(r["ratio"] for r in runs), 2)
        figures[f"{kind} idle RSS MB"] = round(max(r["idle_rss"] for r in runs), 1)
        figures[f"{kind} peak RSS MB"] = round(max(r["peak_rss"] for r in runs), 1)
    figures["load average"] = round(max(r["load"] for runs in results.values() for r in runs), 2)
    if options.json:
        options.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
