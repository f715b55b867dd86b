"""``manage.py dump_events [--output FILE]``: the archive as NDJSON Closer events.

The output backfills into an empty database as the same archive. A FILE
ending in ``.gz`` is compressed; without --output the events go to standard
output.
"""

import gzip
import json
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandParser, OutputWrapper

from conversations.services import closer_events


class Command(BaseCommand):
    help = "Write the archive as NDJSON Closer events (ThreadCreatedEvent, ThreadClosedEvent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", metavar="FILE", help="default: standard output")

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["output"]
        if path is None:
            count = _write(self.stdout)
        elif path.endswith(".gz"):
            with gzip.open(path, "wt", encoding="utf-8") as out:
                count = _write(out)
        else:
            with open(path, "w", encoding="utf-8") as out:
                count = _write(out)
        self.stderr.write(f"{count} events written to {path or 'standard output'}")


def _write(out: IO[str] | OutputWrapper) -> int:
    count = 0
    for event in closer_events():
        out.write(json.dumps(event, ensure_ascii=False) + "\n")
        count += 1
    out.flush()
    return count
