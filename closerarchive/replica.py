"""Staff reads from a PostgreSQL streaming replica (``DATABASE_REPLICA_URL``).

Which reads may be a little behind is decided by the request, not by the
model: the same ``Conversation`` query is fine on a replica when a member of
staff lists conversations, and wrong when a worker pairs events. So the
router sends a read to the replica only inside ``reading_from_replica()``,
which ``ReplicaReadsMiddleware`` enters for GET and HEAD requests to the admin
and the API. Everything else (the webhook path, Celery processing, the
backfill, management commands, every write) uses the primary, ``default``.

Read-your-own-writes: a request with any other method (a saved form, an admin
action) sets a cookie; for ``REPLICA_PIN_SECONDS`` after it, that browser's
reads go to the primary as well, so the page after "Save" shows what was
saved even while the replica is behind.
"""

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest, HttpResponseBase

REPLICA = "replica"
PRIMARY = "default"
# The paths whose reads may come from the replica: staff pages and the API.
REPLICA_READ_PREFIXES = ("/admin/", "/api/")
SAFE_METHODS = frozenset({"GET", "HEAD"})
# Set after a browser's own write; its reads stay on the primary until it expires.
PIN_COOKIE = "closer_archive_primary"

_reads_from_replica: ContextVar[bool] = ContextVar("reads_from_replica", default=False)


@contextmanager
def reading_from_replica() -> Iterator[None]:
    """Within this block, reads go to the replica (writes still go to the primary)."""
    token = _reads_from_replica.set(True)
    try:
        yield
    finally:
        _reads_from_replica.reset(token)


class ReplicaRouter:
    """Reads on the replica inside ``reading_from_replica()``; all else on the primary."""

    def db_for_read(self, model: type, **hints: Any) -> str:
        return REPLICA if _reads_from_replica.get() else PRIMARY

    def db_for_write(self, model: type, **hints: Any) -> str:
        return PRIMARY

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # the replica holds the primary's rows: one database

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == PRIMARY  # a replica replays the primary's schema


class ReplicaReadsMiddleware:
    """Enter ``reading_from_replica()`` for staff and API reads; pin a browser to
    the primary for a while after its own write. Removed when no replica is set."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        if REPLICA not in settings.DATABASES:
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.method not in SAFE_METHODS:
            response = self.get_response(request)
            response.set_cookie(
                PIN_COOKIE,
                "1",
                max_age=settings.REPLICA_PIN_SECONDS,
                secure=request.is_secure(),
                httponly=True,
                samesite="Lax",
            )
            return response
        if not request.path_info.startswith(REPLICA_READ_PREFIXES) or PIN_COOKIE in request.COOKIES:
            return self.get_response(request)
        with reading_from_replica():
            response = self.get_response(request)
        if response.streaming:
            # An export's rows are read while the server sends them, after
            # this method has returned: read those from the replica too.
            response.streaming_content = _from_replica(response.streaming_content)  # type: ignore[attr-defined]
        return response


def _from_replica(chunks: Iterable[bytes]) -> Iterator[bytes]:
    with reading_from_replica():
        yield from chunks
