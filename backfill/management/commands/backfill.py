"""``manage.py backfill PATH [PATH ...]``: load dumps of Closer events.

Each PATH is a dump file, a directory of them, or ``-`` for standard input.
Events go through the webhooks' inbox and the same normaliser, a batch per
transaction, so the archive ends as if Closer had delivered them, and a
second run adds nothing.
"""

import json
import os
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connection
from tqdm import tqdm

from backfill import metrics
from backfill.dumps import (
    DUMP_SUFFIXES,
    STDIN,
    BytesRead,
    DumpNotFound,
    Position,
    expand_paths,
)
from backfill.in_process import MAX_BATCH_MESSAGES, applied_here
from backfill.pool import (
    MAX_DEFAULT_WORKERS,
    AppliedBatch,
    ApplierPool,
    WorkerDatabaseError,
    default_workers,
)
from backfill.services import BackfillResult, Failure

# Chosen by measurement (docs/benchmarks.md): 1000 events go about as
# fast as 2000 since COPY and binary rows cut the per-row cost, and peak
# RSS stays near 145 MB instead of 210.
DEFAULT_BATCH_SIZE = 1000
ERRORS_SHOWN = 20


class Command(BaseCommand):
    help = (
        "Load dumps of Closer events (JSON array, {events: [...]}, NDJSON; .gz) into the archive."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH", help="file, directory, or -")
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
        parser.add_argument("--errors", metavar="FILE", help="write bad records here as NDJSON")
        parser.add_argument(
            "--dry-run", action="store_true", help="parse and validate, write nothing"
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            metavar="N",
            help=(
                "applier processes, each customer's events in one of them, in dump order"
                f" (default: one per CPU, at most {MAX_DEFAULT_WORKERS}; 1: all in this process;"
                " inside a transaction, always 1)"
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        if options["workers"] is not None and options["workers"] < 1:
            raise CommandError("--workers must be at least 1")
        try:
            sources = expand_paths(options["paths"])
        except DumpNotFound as error:
            raise CommandError(str(error)) from None
        for path in options["paths"]:
            if path != STDIN and Path(path).is_dir() and not expand_paths([path]):
                self._warn(f"{path}: no dump files in this directory ({_SUFFIXES_SHOWN})")
        if not sources:
            raise CommandError("nothing to backfill: no dump files were found")
        errors_file = open(options["errors"], "w", encoding="utf-8") if options["errors"] else None  # noqa: SIM115
        # Forked before any other thread starts (the progress bar's monitor, the reader).
        workers = _workers(options["workers"])
        pool = ApplierPool(workers=workers, dry_run=options["dry_run"]) if workers > 1 else None
        report = _Report(self, errors_file)
        bytes_read = BytesRead()
        # Bytes of the files as read (compressed, for .gz): a total, a
        # percentage and an ETA; standard input has no size, only a rate.
        total = None if STDIN in sources else sum(os.path.getsize(s) for s in sources)
        progress = tqdm(
            total=total,
            bar_format=_BAR_FORMAT if total is not None else _RATE_ONLY_FORMAT,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            disable=options["no_progress"] or not sys.stderr.isatty(),
            file=sys.stderr,
            dynamic_ncols=True,
        )
        started = time.monotonic()
        stopped_by: DatabaseError | KeyboardInterrupt | None = None

        def count(applied: AppliedBatch) -> None:
            report.read += applied.read
            for unreadable in applied.unreadable:
                report.error(unreadable.position, unreadable.reason)
            if not options["dry_run"]:  # the metrics count what was written
                metrics.record_batch(
                    read=applied.read, unreadable=len(applied.unreadable), result=applied.result
                )
            report.add(applied.result)
            rate = report.read / max(time.monotonic() - started, 1e-9)
            progress.set_postfix_str(f"{report.read:,} events, {rate:,.0f} events/s", refresh=False)
            if applied.bytes_read > progress.n:
                progress.update(applied.bytes_read - progress.n)

        try:
            try:
                applied_batches = (
                    pool.run(sources, options["batch_size"], MAX_BATCH_MESSAGES, bytes_read)
                    if pool is not None
                    else applied_here(
                        sources, options["batch_size"], bytes_read, dry_run=options["dry_run"]
                    )
                )
                # Closed on the way out, whatever stops the loop: the reader stops.
                with closing(applied_batches):
                    for applied in applied_batches:
                        count(applied)
                        del applied  # freed before the next batch is unpickled
            except KeyboardInterrupt:
                # The appliers finish the batch they hold: counted too.
                for applied in pool.wind_down() if pool is not None else ():
                    count(applied)
                raise
        except DatabaseError as error:
            # Raised only when no record is to blame (database down, schema
            # not migrated): the batches committed so far are kept.
            stopped_by = error
        except KeyboardInterrupt as interrupt:
            # Ctrl-C: the batch being applied is rolled back whole (on one
            # process) or finished (by the appliers); the summary counts
            # every batch committed.
            stopped_by = interrupt
        finally:
            if pool is not None:
                pool.close()
            progress.close()
            if errors_file:
                errors_file.close()
        report.summarise(
            files=len(sources), elapsed=time.monotonic() - started, dry_run=options["dry_run"]
        )
        if stopped_by is None and report.read == 0:
            self._warn("the input holds no events (every file is empty)")
            raise CommandError("nothing to backfill: the input holds no events")
        if isinstance(stopped_by, KeyboardInterrupt):
            raise CommandError(
                "interrupted; what was committed is kept, and running the same command"
                " again continues where it stopped",
                returncode=130,
            )
        if stopped_by is not None:
            raise CommandError(
                f"stopped by a database error ({_described(stopped_by)}); "
                "what was committed is kept, and running the same command again "
                "continues where it stopped"
            )
        if report.errors:
            where = f" (see {options['errors']})" if errors_file else ""
            raise CommandError(f"{report.errors} record(s) could not be archived{where}")

    def _warn(self, message: str) -> None:
        self.stderr.write(self.style.WARNING(f"warning: {message}"))


def _workers(requested: int | None) -> int:
    """Applier processes: as asked, else one per CPU; one inside a
    transaction (tests, a caller's atomic block), whose writes other
    processes could not see, and on SQLite, which has one writer anyway."""
    if connection.in_atomic_block or connection.vendor != "postgresql":
        return 1
    return requested if requested is not None else default_workers()


def _described(error: DatabaseError) -> str:
    if isinstance(error, WorkerDatabaseError):
        return str(error)  # already "OperationalError: ..." from the applier
    return f"{type(error).__name__}: {error}"


# tqdm's own formats, with the unit after both counts (21.9kB/1.2MB, not 21.9k/1.2M).
_BAR_FORMAT = "{l_bar}{bar}| {n_fmt}B/{total_fmt}B [{elapsed}<{remaining}, {rate_fmt}{postfix}]"
_RATE_ONLY_FORMAT = "{n_fmt}B [{elapsed}, {rate_fmt}{postfix}]"
_SUFFIXES_SHOWN = ", ".join(f"*{suffix}" for suffix in DUMP_SUFFIXES) + " and their .gz"


class _Report:
    """Counts for the summary, and the errors file."""

    def __init__(self, command: BaseCommand, errors_file: IO[str] | None) -> None:
        self.command = command
        self.errors_file = errors_file
        self.read = 0
        self.errors = 0
        self.total = BackfillResult()

    def add(self, result: BackfillResult) -> None:
        for failure in result.failures:
            self.failure(failure)
        result.failures = []
        self.total.add(result)

    def failure(self, failure: Failure) -> None:
        self.error(failure.event.position, failure.reason, failure.event.payload)

    def error(self, position: Position, reason: str, record: Any = None) -> None:
        self.errors += 1
        if self.errors_file:
            entry = {**position.as_dict(), "reason": reason}
            try:
                # ASCII escapes: a bad record may hold text UTF-8 cannot encode.
                line = json.dumps({**entry, "record": record} if record is not None else entry)
            except (ValueError, RecursionError):
                line = json.dumps(entry)  # the record itself cannot be written back
            self.errors_file.write(line + "\n")
        if self.errors <= ERRORS_SHOWN:
            self.show(f"{position}: {reason}")
        elif self.errors == ERRORS_SHOWN + 1 and not self.errors_file:
            self.show("more errors not shown; use --errors FILE to keep them all")

    def show(self, line: str) -> None:
        """An error line above the progress bar: the bar is cleared, the line
        written, the bar drawn again below it."""
        with tqdm.external_write_mode(file=sys.stderr):
            self.command.stderr.write(line)

    def summarise(self, *, files: int, elapsed: float, dry_run: bool) -> None:
        total = self.total
        rate = self.read / elapsed if elapsed > 0 else 0.0
        if dry_run:
            lines = [
                "Dry run: nothing was written.",
                f"files: {files}",
                f"events read: {self.read}",
                f"new events (would be archived): {total.new_events}",
                f"duplicates (already backfilled): {total.duplicates}",
                f"unknown event types (would be kept, skipped): {total.skipped}",
                f"older than the retention period (would not be archived): {total.expired}",
            ]
        else:
            lines = [
                f"files: {files}",
                f"events read: {self.read}",
                f"new events archived: {total.new_events}",
                f"new conversations: {total.new_conversations}",
                f"new messages: {total.new_messages}",
                f"duplicates skipped: {total.duplicates}",
                f"unknown event types (kept, skipped): {total.skipped}",
                f"events of erased customers (not archived): {total.erased}",
                f"older than the retention period (not archived): {total.expired}",
            ]
        if total.retries:
            lines.append(f"batches applied again after a deadlock: {total.retries}")
        lines += [f"errors: {self.errors}", f"elapsed: {elapsed:.1f} s", f"events/s: {rate:.0f}"]
        if not dry_run and self.read and not (total.new_events or total.skipped or total.expired):
            lines.append("Nothing new: every event was already backfilled.")
        self.command.stdout.write("\n".join(lines))
