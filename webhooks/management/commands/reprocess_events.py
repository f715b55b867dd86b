from datetime import UTC, datetime, time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from webhooks.models import EventStatus, InboundEvent
from webhooks.outbox import requeue

BATCH = 1000


def parse_since(value: str) -> datetime:
    """An ISO date (midnight UTC) or date-time (UTC unless it has an offset)."""
    try:
        moment = parse_datetime(value)
        if moment is None and (day := parse_date(value)) is not None:
            moment = datetime.combine(day, time.min)
    except ValueError:
        moment = None
    if moment is None:
        raise CommandError(f"--since {value!r} is not an ISO date or date-time")
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, UTC)


class Command(BaseCommand):
    help = (
        "Send failed, dead or rejected events through processing again "
        "(after fixing what made them fail). Attempts start again from zero."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--status",
            required=True,
            choices=[EventStatus.DEAD, EventStatus.FAILED, EventStatus.REJECTED],
            help="Which events to reprocess.",
        )
        parser.add_argument(
            "--since",
            metavar="WHEN",
            help="Only events received at or after WHEN (ISO date or date-time, UTC).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count the events, change nothing."
        )

    def handle(
        self, *args: Any, status: str, since: str | None, dry_run: bool, **options: Any
    ) -> None:
        events = InboundEvent.objects.filter(status=status)
        if since is not None:
            events = events.filter(received_at__gte=parse_since(since))
        event_ids = list(events.order_by("pk").values_list("pk", flat=True))
        if dry_run:
            self.stdout.write(f"{len(event_ids)} {status} events would be reprocessed")
            return
        requeued = 0
        for start in range(0, len(event_ids), BATCH):
            requeued += requeue(event_ids=event_ids[start : start + BATCH])
        self.stdout.write(f"{requeued} {status} events sent for reprocessing")
