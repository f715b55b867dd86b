"""Writing and pruning the access log.

Recording is part of the read, not a side effect of it: ``record_access``
runs before the response leaves, in the request, and an error writing the
record propagates (a 500), so a read that cannot be audited does not happen.
A streamed export is recorded when the view returns, before its first byte;
``recorded_stream`` adds the row count when the stream ends (see there).
"""

import logging
import re
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from urllib.parse import quote, quote_plus

from axes.helpers import get_client_ip_address
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from .models import AccessAction, AccessedConversation, AccessRecord
from .streams import RowCounter

logger = logging.getLogger(__name__)

# More conversation ids than this are not listed (a record then names its
# query string and row count): an audit row per read must stay small.
MAX_CONVERSATION_IDS = 100


def client_address(request: HttpRequest) -> str | None:
    """The client's address as the login lockout (django-axes) reads it:
    REMOTE_ADDR, or behind TRUSTED_PROXY_COUNT proxies X-Forwarded-For."""
    return get_client_ip_address(request) or None


def record_access(
    *,
    request: HttpRequest,
    action: AccessAction,
    conversation_ids: Iterable[int] = (),
    row_count: int | None = None,
    with_query: bool = False,
) -> AccessRecord:
    """Record one read by the request's user. ``with_query`` keeps the query
    string (the filters of a list or an export)."""
    user = request.user if request.user.is_authenticated else None
    ids = sorted(set(conversation_ids))
    if len(ids) > MAX_CONVERSATION_IDS:
        ids = []
    record = AccessRecord(
        user=user,
        username=user.get_username() if user is not None else "",
        action=action,
        path=request.path,
        query=request.META.get("QUERY_STRING", "") if with_query else "",
        row_count=row_count,
        client_ip=client_address(request),
    )
    if not ids:  # one INSERT: a list page costs the admin one query more, not three
        record.save()
        return record
    with transaction.atomic():
        record.save()
        AccessedConversation.objects.bulk_create(
            AccessedConversation(record=record, conversation_id=pk) for pk in ids
        )
    return record


def recorded_stream(
    chunks: Iterator[bytes], *, record: AccessRecord, rows: RowCounter
) -> Iterator[bytes]:
    """The export's bytes unchanged, counting its rows as they pass; when the
    stream ends (or stops early: the client went away, the export failed)
    the record gets the count sent so far and whether it was complete.

    The count is exact and costs no query, but it arrives after the data: a
    failure to write it then is logged, not raised (the bytes are gone).
    """
    completed = False
    try:
        for chunk in chunks:
            rows.feed(chunk)
            yield chunk
        completed = True
    finally:
        # End the export's own read-only transaction before writing.
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
        try:
            AccessRecord.objects.filter(pk=record.pk).update(
                row_count=rows.count, completed=completed
            )
        except Exception:
            logger.exception("could not record the row count of access record %s", record.pk)


ERASED = "[erased]"


def forget_in_access_records(*, values: Iterable[str]) -> int:
    """Replace an erased customer's details (email, name, phone, Closer id)
    in the query strings of the log, as sent or URL-encoded, with
    ``[erased]``; return how many records changed. The reads stay recorded;
    a search term naming the person does not."""
    forms = {form for value in values if value for form in (value, quote_plus(value), quote(value))}
    if not forms:
        return 0
    pattern = re.compile("|".join(map(re.escape, sorted(forms, key=len, reverse=True))), re.I)
    matches = Q()
    for form in forms:
        matches |= Q(query__icontains=form)
    changed = []
    for record in AccessRecord.objects.filter(matches).only("pk", "query"):
        record.query = pattern.sub(ERASED, record.query)
        changed.append(record)
    AccessRecord.objects.bulk_update(changed, ["query"], batch_size=500)
    return len(changed)


def retention_cutoff(now: datetime | None = None) -> datetime:
    """Records older than this are past AUDIT_RETENTION_DAYS."""
    return (now or timezone.now()) - timedelta(days=settings.AUDIT_RETENTION_DAYS)


def prune_access_records(*, older_than: datetime, batch_size: int, dry_run: bool) -> int:
    """Delete records made before ``older_than``, ``batch_size`` at a time,
    each batch its own short transaction; return how many were (or, with
    ``dry_run``, would be) deleted."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    expired = AccessRecord.objects.filter(at__lt=older_than)
    if dry_run:
        return expired.count()
    deleted = 0
    while True:
        with transaction.atomic():
            batch = list(expired.order_by("at", "pk").values_list("pk", flat=True)[:batch_size])
            if not batch:
                return deleted
            # Two statements: the records' conversation ids, then the records.
            AccessRecord.objects.filter(pk__in=batch).delete()
        deleted += len(batch)
