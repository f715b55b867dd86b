"""``manage.py backfill PATH [PATH ...]``: load dumps of Closer events.

Each PATH is a dump file, a directory of them, or ``-`` for standard input.
Events go through the webhooks' inbox and the same normaliser, a batch per
transaction, so the archive ends as if Closer had delivered them, and a
second run adds nothing.
"""

import json
import sys
import time
from collections.abc import Iterator
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from conversations.dumps import (
    DumpNotFound,
    Position,
    Record,
    Unreadable,
    expand_paths,
    read_source,
)
from webhooks.backfill import BackfillResult, DumpedEvent, Failure, backfill_events

# Chosen by measurement (docs/benchmarks.md): large enough that per-batch
# round trips vanish, small enough that a batch's rows stay a few MB.
DEFAULT_BATCH_SIZE = 2000
ERRORS_SHOWN = 20


class Command(BaseCommand):
    help = "Load dumps of Closer events (JSON array, {events: [...]}, NDJSON; .gz) into the archive."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH", help="file, directory, or -")
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
        parser.add_argument("--errors", metavar="FILE", help="write bad records here as NDJSON")
        parser.add_argument(
            "--dry-run", action="store_true", help="parse and validate, write nothing"
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        try:
            sources = expand_paths(options["paths"])
        except DumpNotFound as error:
            raise CommandError(str(error)) from None
        errors_file = open(options["errors"], "w", encoding="utf-8") if options["errors"] else None  # noqa: SIM115
        report = _Report(self, errors_file)
        progress = tqdm(
            unit=" events",
            unit_scale=True,
            disable=options["no_progress"] or not sys.stderr.isatty(),
            file=sys.stderr,
            dynamic_ncols=True,
        )
        started = time.monotonic()
        try:
            for batch in _batches(sources, options["batch_size"], report):
                result = backfill_events(events=batch, dry_run=options["dry_run"])
                report.add(result)
                progress.update(len(batch))
        finally:
            progress.close()
            if errors_file:
                errors_file.close()
        report.summarise(
            files=len(sources), elapsed=time.monotonic() - started, dry_run=options["dry_run"]
        )
        if report.errors:
            where = f" (see {options['errors']})" if errors_file else ""
            raise CommandError(f"{report.errors} record(s) could not be archived{where}")


def _batches(sources: list[str], size: int, report: "_Report") -> Iterator[list[DumpedEvent]]:
    """Records of every source in order, cut into batches; unreadable parts reported."""
    batch: list[DumpedEvent] = []
    for source in sources:
        for item in read_source(source):
            report.read += 1
            if isinstance(item, Unreadable):
                report.error(item.position, item.reason)
                continue
            assert isinstance(item, Record)
            batch.append(DumpedEvent(item.payload, item.position, item.raw))
            if len(batch) >= size:
                yield batch
                batch = []
    if batch:
        yield batch


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
            if record is not None:
                entry["record"] = record
            self.errors_file.write(json.dumps(entry, ensure_ascii=False) + "\n")
        if self.errors <= ERRORS_SHOWN:
            self.command.stderr.write(f"{position}: {reason}")
        elif self.errors == ERRORS_SHOWN + 1 and not self.errors_file:
            self.command.stderr.write("more errors not shown; use --errors FILE to keep them all")

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
            ]
        lines += [f"errors: {self.errors}", f"elapsed: {elapsed:.1f} s", f"events/s: {rate:.0f}"]
        if not dry_run and self.read and total.new_events == 0 and total.skipped == 0:
            lines.append("Nothing new: every event was already backfilled.")
        self.command.stdout.write("\n".join(lines))
