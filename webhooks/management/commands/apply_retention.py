import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from webhooks.retention import apply_retention


class Command(BaseCommand):
    help = (
        "Apply the retention settings now: delete or anonymise conversations past "
        "RETENTION_CONVERSATIONS_DAYS and prune inbound bodies past "
        "RETENTION_INBOUND_BODIES_DAYS, in batches (Celery beat runs this daily)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be done, change nothing."
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            metavar="N",
            help="Conversations (or inbound events) per transaction "
            "(default: RETENTION_BATCH_SIZE).",
        )
        parser.add_argument(
            "--no-progress", action="store_true", help="No progress bars, even in a terminal."
        )

    def handle(
        self, *args: Any, dry_run: bool, batch_size: int | None, no_progress: bool, **options: Any
    ) -> None:
        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        bars: dict[str, tqdm[Any]] = {}
        show = not (dry_run or no_progress) and sys.stderr.isatty()

        def progress(kind: str, done: int) -> None:
            if kind not in bars:
                bars[kind] = tqdm(
                    desc=kind, unit=" rows", unit_scale=True, file=sys.stderr, disable=not show
                )
            bars[kind].update(done)

        try:
            report = apply_retention(dry_run=dry_run, batch_size=batch_size, progress=progress)
        finally:
            for bar in bars.values():
                bar.close()
        lines = ["Dry run: nothing was changed." if dry_run else "Retention applied."]
        lines += [f"policy: {rule}" for rule in report.policy]
        would = " (would be)" if dry_run else ""
        lines += [f"{kind}{would}: {count}" for kind, count in report.counts.items()]
        self.stdout.write("\n".join(lines))
