"""Keep secrets out of logs.

A webhook URL is ``/webhooks/closer/<token>/`` and the token is the
endpoint's secret. Django logs request paths (``django.request`` warns
"Unauthorized: /webhooks/closer/<token>/", runserver logs each request line)
and gunicorn's access log writes the request line. Both go through
``redact`` here: the settings' LOGGING attaches ``RedactSecretsFilter`` to the
console handler, and ``gunicorn.conf.py`` makes gunicorn use
``RedactingGunicornLogger``.

This module imports nothing from Django so gunicorn can load it before the
project is set up.
"""

import logging
import re
from typing import Any

from gunicorn.glogging import Logger as GunicornLogger

REDACTED = "<redacted>"
# The token segment of the webhook URL, wherever it appears in a line
# (a path, a full URL, a request line, a repr of a request).
_WEBHOOK_TOKEN = re.compile(r"(/webhooks/closer/)[^/?#\s\"'>]+")
# Secrets by their shape, should one ever be interpolated into a message.
_WHSEC = re.compile(r"whsec_[A-Za-z0-9+/=]+")


def redact(text: str) -> str:
    return _WHSEC.sub("whsec_" + REDACTED, _WEBHOOK_TOKEN.sub(r"\g<1>" + REDACTED, text))


class RedactSecretsFilter(logging.Filter):
    """Rewrite each record's message with secrets replaced; never drop it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            # Tracebacks of request-handling errors can quote the path too.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class RedactingGunicornLogger(GunicornLogger):
    """gunicorn's logger with the webhook token removed from every access-log atom
    (``%(r)s``, ``%(U)s``, ``%({raw_uri}e)s``, the referer...)."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        return {
            key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()
        }
