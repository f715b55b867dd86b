"""Keep secrets out of logs.

A webhook URL is ``/webhooks/closer/<token>/`` and the token is the
endpoint's secret. Django logs request paths (``django.request`` warns
"Unauthorized: /webhooks/closer/<token>/", runserver logs each request line)
and gunicorn's access log writes the request line. All of them go through
``redact`` here: the settings' LOGGING attaches ``RedactSecretsFilter`` to the
console handler (web processes, Celery workers and beat alike),
``gunicorn.conf.py`` makes gunicorn use ``RedactingGunicornLogger``, and the
Sentry SDK (``closerarchive/sentry.py``) sends nothing that has not passed
through ``redact_event`` / ``redact_breadcrumb``.

This module imports nothing from Django so gunicorn can load it before the
project is set up.
"""

import logging
import os
import re
from typing import Any

from gunicorn.glogging import Logger as GunicornLogger

from .logformat import JsonLineFormatter

REDACTED = "<redacted>"
# The token segment of the webhook URL, wherever it appears in a line
# (a path, a full URL, a request line, a repr of a request), and in its
# percent-encoded form inside a query string (?next=%2Fwebhooks%2Fcloser%2F...).
# Tokens are URL-safe base64, never "<" or "%", so an already redacted line
# comes out unchanged.
_SLASH = r"(?:/|%2[Ff])"
_WEBHOOK_TOKEN = re.compile(rf"({_SLASH}webhooks{_SLASH}closer{_SLASH})[^/?#&%\s\"'<>]+")
# Secrets by their shape, should one ever be interpolated into a message.
_WHSEC = re.compile(r"whsec_[A-Za-z0-9+/=]+")


def redact(text: str) -> str:
    return _WHSEC.sub("whsec_" + REDACTED, _WEBHOOK_TOKEN.sub(r"\g<1>" + REDACTED, text))


def redact_data(value: Any) -> Any:
    """``value`` with ``redact`` applied to every string in it, keys included,
    however deep in dicts, lists and tuples (an error report, a breadcrumb)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_data(key): redact_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(item) for item in value]
    return value


# Request headers that carry credentials or signatures: an error report
# leaves them out whole (a signature is as good as a password for replays).
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-csrftoken",
        "x-api-key",
        "x-signature-256",
        "webhook-signature",
    }
)


def redact_event(event: dict[str, Any], hint: Any = None) -> dict[str, Any]:
    """A Sentry event (error or transaction) fit to leave the process: secret
    headers and cookies dropped, every string (URL, query string, message,
    exception values, breadcrumbs, tags) passed through ``redact``."""
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("cookies", None)
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {
                name: value
                for name, value in headers.items()
                if str(name).lower().replace("_", "-") not in SECRET_HEADERS
            }
    redacted: dict[str, Any] = redact_data(event)
    return redacted


def redact_breadcrumb(crumb: dict[str, Any], hint: Any = None) -> dict[str, Any]:
    """A Sentry breadcrumb (a log line, a query, an HTTP call) with secrets redacted."""
    redacted: dict[str, Any] = redact_data(crumb)
    return redacted


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
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class RedactingGunicornLogger(GunicornLogger):
    """gunicorn's logger with the webhook token removed from every access-log atom
    (``%(r)s``, ``%(U)s``, ``%({raw_uri}e)s``, the referer...) and from the
    error log (gunicorn logs "Error handling request <path>"). With
    ``LOG_FORMAT=json`` both logs write one JSON object per line, as Django does."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        as_json = os.environ.get("LOG_FORMAT", "").strip().lower() == "json"
        for handler in self.error_log.handlers:
            handler.addFilter(RedactSecretsFilter())
            if as_json:
                handler.setFormatter(JsonLineFormatter())
        if as_json:
            for handler in self.access_log.handlers:
                handler.setFormatter(JsonLineFormatter())

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        return {
            key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()
        }
