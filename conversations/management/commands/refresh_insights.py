"""``manage.py refresh_insights [--all]``: bring the Insights roll-ups up to date.

Without options, the hours marked pending are recomputed (the page and the
API do the same before they read). With ``--all``, every conversation's
metrics are computed again from its messages, then every roll-up: after an
adviser turned out to be a bot, or to repair a hand-edited database.
"""

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm

from conversations.insights.store import rebuild_all, refresh_rollups
from conversations.models import Conversation


class Command(BaseCommand):
    help = "Recompute the Insights roll-ups of pending hours; --all: every metric and roll-up."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--all",
            action="store_true",
            help="recompute every conversation's metrics, then every roll-up",
        )
        parser.add_argument(
            "--no-progress", action="store_true", help="No progress bar, even in a terminal."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["all"]:
            show = not options["no_progress"] and sys.stderr.isatty()
            with tqdm(
                desc="conversations",
                total=Conversation.objects.count() if show else None,
                unit=" conv",
                unit_scale=True,
                file=sys.stderr,
                disable=not show,
            ) as bar:
                count = rebuild_all(progress=bar.update)
            self.stdout.write(f"Recomputed the metrics of {count} conversations and every roll-up.")
        else:
            hours = refresh_rollups()
            self.stdout.write(f"Recomputed the roll-ups of {hours} hours.")
