"""``LOG_FORMAT=json``: one JSON object per log line, for log collectors.

Each line has ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``
and, when there is one, ``exception`` (the traceback text) or ``stack``.
Nothing else: record extras are left out on purpose, because some carry
secrets past the redaction filter (``django.request`` attaches the request
object, whose repr quotes the webhook URL and its token). The filter
(``closerarchive.redaction.RedactSecretsFilter``) runs before this formatter
and has already rewritten the message and the exception text; this formatter
prints ``record.exc_text`` as the filter left it, never the traceback
formatted again.

Like ``redaction``, this module imports nothing from Django so gunicorn can
load it before the project is set up.
"""

import json
import logging
from datetime import UTC, datetime


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        created = datetime.fromtimestamp(record.created, UTC)
        entry = {
            "time": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # ensure_ascii: a line stays one line and plain ASCII whatever the message holds.
        return json.dumps(entry, ensure_ascii=True)
