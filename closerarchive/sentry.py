"""Error reports to Sentry, sent only when ``SENTRY_DSN`` is set.

Settings call ``init_sentry`` (web processes, Celery workers and beat all
import the settings); the tests call it with a recording transport, so they
exercise exactly the options production uses.

What leaves the process, and why:
- Unhandled exceptions in views (Django integration) and tasks (Celery
  integration), and ``logger.error``/``logger.exception`` records (the
  default logging integration; lower levels become breadcrumbs).
- No personal data: no user details, cookies, request bodies, query
  parameters of database spans or local variables of stack frames
  (``data_collection``, the successor of ``send_default_pii=False``).
  Webhook bodies and the normaliser's locals are customers' transcripts,
  names and emails, which ``erase_customer`` could not erase from Sentry;
  the view's locals also hold the URL token.
- Every event, transaction and breadcrumb goes through
  ``closerarchive.redaction`` (``redact_event``, ``redact_breadcrumb``):
  webhook URL tokens become ``<redacted>`` wherever they appear, and
  credential and signature headers are dropped.
"""

from typing import Any

import sentry_sdk
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.transport import Transport

from .redaction import redact_breadcrumb, redact_event


def init_sentry(
    dsn: str,
    *,
    environment: str | None = None,
    traces_sample_rate: float = 0.0,
    transport: Transport | type[Transport] | None = None,
) -> None:
    options: dict[str, Any] = {
        "dsn": dsn,
        "environment": environment or None,
        "traces_sample_rate": traces_sample_rate,
        # What send_default_pii=False meant, and more; sentry-sdk 2.75 replaced
        # that flag with data_collection.
        "data_collection": {
            "user_info": False,
            "cookies": {"mode": "off"},
            "http_bodies": [],
            "stack_frame_variables": False,
            "database_query_data": False,
        },
        "integrations": [DjangoIntegration(), CeleryIntegration()],
        "before_send": redact_event,
        "before_send_transaction": redact_event,
        "before_breadcrumb": redact_breadcrumb,
    }
    if transport is not None:
        options["transport"] = transport
    sentry_sdk.init(**options)
