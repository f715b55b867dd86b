"""``/health/live`` and ``/health/ready``: probes for load balancers,
orchestrators and monitoring.

``live`` says the process answers and touches nothing else. ``ready`` checks
what a working archive needs: the database, the cache (when ``CACHE_URL`` is
set), the broker (when ``CELERY_BROKER_URL`` is set), migrations applied, and
an inbox that is moving (no event left ``received`` for longer than
``HEALTH_MAX_RECEIVED_AGE_SECONDS``: a dead beat or worker pool).

The answer is JSON, ``{"status": "ok" | "unavailable", "checks": {...}}``,
200 or 503, never cached, open to anyone: so each check reports only a short
fixed reason (never a host, URL or exception text, which can carry them);
the details go to the log. Every wait is bounded (the database's connect
timeout and a statement timeout, the broker's connect timeout without
retries, the cache's socket timeouts), so a probe gets an answer, not a hang.

Not django-health-check: its view (4.x) answers 500, not 503, HTML unless
asked for JSON, in a shape of its own, and runs synchronous checks on other
threads, each with a database connection of its own; what it would add here
(a ``SELECT 1``, a cache round trip) is a few lines.
"""

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from closerarchive.celery import app as celery_app
from webhooks.models import InboundEvent

logger = logging.getLogger(__name__)

OK = "ok"
NOT_CONFIGURED = "not configured"
# What a check reports when it passes: anything else is a failure.
PASSING = {OK, NOT_CONFIGURED}
# A query of the readiness check never waits longer than this (a migration
# holding a lock on the inbox would otherwise hold the probe).
STATEMENT_TIMEOUT_MS = 2000


class CheckFailed(Exception):
    """A check did not pass; ``reason`` is short, fixed text, safe to publish."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@contextmanager
def _bounded_queries() -> Iterator[None]:
    """A transaction whose statements time out (PostgreSQL), so one check's
    failure cannot leave the next one inside an aborted transaction."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT set_config('statement_timeout', %s, true)", [str(STATEMENT_TIMEOUT_MS)]
                )
        yield


def check_database() -> str:
    try:
        with _bounded_queries(), connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        raise CheckFailed("unreachable") from error
    return OK


def check_migrations() -> str:
    with _bounded_queries():
        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            raise CheckFailed("unapplied migrations")
    return OK


def check_inbox() -> str:
    """Red when an event has waited in ``received`` past the limit: neither
    its own task nor the sweep got it processed."""
    with _bounded_queries():
        oldest = InboundEvent.objects.oldest_received_at()
    if oldest is None:
        return OK
    waited = int((timezone.now() - oldest).total_seconds())
    limit = settings.HEALTH_MAX_RECEIVED_AGE_SECONDS
    if waited > limit:
        raise CheckFailed(f"stalled: an event has waited {waited} s in received (limit {limit} s)")
    return OK


def check_cache() -> str:
    if not settings.CACHE_URL:
        return NOT_CONFIGURED  # each process's own memory: nothing to reach
    key = f"health:{uuid.uuid4().hex}"
    try:
        cache.set(key, OK, timeout=10)
        answer = cache.get(key)
        cache.delete(key)
    except Exception as error:  # redis-py's errors do not share a base with OSError
        raise CheckFailed("unreachable") from error
    if answer != OK:
        raise CheckFailed("unexpected answer")
    return OK


def check_broker() -> str:
    """Connect to the broker the app publishes to: one attempt, no retries,
    within ``CELERY_BROKER_CONNECTION_TIMEOUT`` (the socket's reads too)."""
    if celery_app.conf.task_always_eager:
        return NOT_CONFIGURED  # tasks run in-process: there is no broker
    timeout = settings.CELERY_BROKER_CONNECTION_TIMEOUT
    try:
        with celery_app.connection_for_write(
            connect_timeout=timeout,
            transport_options={"socket_connect_timeout": timeout, "socket_timeout": timeout},
        ) as broker:
            broker.ensure_connection(max_retries=0)
    except Exception as error:  # kombu raises its own, the socket's, redis-py's
        raise CheckFailed("unreachable") from error
    return OK


def _run(name: str, check: Callable[[], str]) -> str:
    try:
        return check()
    except CheckFailed as failure:
        logger.warning(
            "readiness: %s check failed: %s (%r)", name, failure.reason, failure.__cause__
        )
        return failure.reason
    except DatabaseError:
        logger.warning("readiness: %s check failed: database error", name, exc_info=True)
        return "database error"
    except Exception:
        logger.exception("readiness: %s check raised", name)
        return "error"


def readiness() -> dict[str, str]:
    """Every check's result by name. Without the database, the checks that
    read it are not run (each would wait for its own connect timeout)."""
    results = {"database": _run("database", check_database)}
    for name, check in (("migrations", check_migrations), ("inbox", check_inbox)):
        results[name] = _run(name, check) if results["database"] == OK else "not checked"
    results["cache"] = _run("cache", check_cache)
    results["broker"] = _run("broker", check_broker)
    return results


@never_cache
@require_safe
def live(request: HttpRequest) -> JsonResponse:
    """The process is up and serving requests; nothing else is touched."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def ready(request: HttpRequest) -> JsonResponse:
    checks = readiness()
    healthy = all(result in PASSING for result in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status=200 if healthy else 503,
    )
