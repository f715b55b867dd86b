from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from webhooks.outbox import sweep


class Command(BaseCommand):
    help = (
        "Send again the events left `received` (never picked up) or `failed` past their "
        "retry time. Celery beat runs the same sweep every SWEEP_INTERVAL_SECONDS; run "
        "this from cron instead if you do not run beat."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--grace",
            type=int,
            default=settings.SWEEP_GRACE_SECONDS,
            metavar="SECONDS",
            help="Leave `received` events younger than this alone (default: %(default)s).",
        )
        parser.add_argument(
            "--limit",
            type=int,
            default=10_000,
            help="At most this many events of each status per run (default: %(default)s).",
        )

    def handle(self, *args: Any, grace: int, limit: int, **options: Any) -> None:
        if grace < 0 or limit < 1:
            raise CommandError("--grace must be >= 0 and --limit >= 1")
        result = sweep(
            grace_seconds=grace,
            resend_after_seconds=settings.SWEEP_RESEND_AFTER_SECONDS,
            limit=limit,
        )
        self.stdout.write(f"{result.sent} of {result.due} due events sent for processing")
        if result.broker_unreachable:
            raise CommandError(
                "the broker is unreachable; the rest stay in the database for the next sweep"
            )
