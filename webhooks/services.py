"""Receiving and processing webhook events (keyword-only services)."""

import hashlib
import hmac
import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import cache, partial
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper
from django.db.models import F, Q
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from conversations import services as archive
from conversations.payloads import storable

from . import digests
from .bodies import InvalidBody, holds_no_infinity, parse_body
from .canonical import canonical_json
from .erasure import erased_among, is_erased
from .models import EventSource, EventStatus, InboundEvent, WebhookEndpoint, hash_token
from .signatures import SignatureError, verify_hmac_sha256, verify_standard_webhooks

try:
    # Defined by Django only with psycopg 3 (the stubs do not know it).
    from django.db.backends.postgresql.base import (  # type: ignore[attr-defined]
        ServerBindingCursor,
    )
except (ImportError, ImproperlyConfigured):  # SQLite-only installs, psycopg2
    ServerBindingCursor = None

logger = logging.getLogger(__name__)

STORED_HEADERS = (
    "content-type",
    "user-agent",
    "webhook-id",
    "webhook-timestamp",
    "x-forwarded-for",
    "x-request-id",
)


@dataclass(frozen=True)
class Receipt:
    """What the receive view answers."""

    status_code: int
    body: dict[str, Any]


class Rejected(Exception):
    def __init__(self, status_code: int, reason: str) -> None:
        super().__init__(reason)
        self.status_code = status_code
        self.reason = reason


# --- Receiving ---------------------------------------------------------------------


# Endpoints by token hash, with the time each was read: saves a query per
# webhook. A change to an endpoint (disabled, secrets rotated) reaches every
# web process within WEBHOOK_ENDPOINT_CACHE_SECONDS, and this one at once
# (the post_save/post_delete signals below clear it).
_endpoint_cache: dict[str, tuple[float, WebhookEndpoint | None]] = {}


@receiver([post_save, post_delete], sender=WebhookEndpoint)
def _forget_endpoints(**kwargs: Any) -> None:
    _endpoint_cache.clear()


def _lookup_endpoint(token_hash: str) -> WebhookEndpoint | None:
    ttl = settings.WEBHOOK_ENDPOINT_CACHE_SECONDS
    cached = _endpoint_cache.get(token_hash)
    if cached is not None and time.monotonic() - cached[0] < ttl:
        return cached[1]
    endpoint = WebhookEndpoint.objects.filter(token_hash=token_hash).first()
    if ttl > 0 and endpoint is not None:  # unknown tokens are not cached: no memory to fill
        if len(_endpoint_cache) > 1000:
            _endpoint_cache.clear()
        _endpoint_cache[token_hash] = (time.monotonic(), endpoint)
    return endpoint


def find_endpoint(*, token: str) -> WebhookEndpoint:
    endpoint = _lookup_endpoint(hash_token(token))
    if endpoint is None:
        logger.warning("webhook rejected: unknown endpoint token")
        raise Rejected(401, "unknown endpoint")
    if not endpoint.is_active:
        _count_rejection(endpoint, "endpoint is disabled")
        raise Rejected(403, "endpoint is disabled")
    return endpoint


def receive_event(
    *,
    endpoint: WebhookEndpoint,
    body: bytes,
    headers: Mapping[str, str],
    remote_addr: str | None,
) -> Receipt:
    """Verify, parse and store one webhook delivery.

    Raises ``Rejected`` for failed verification (nothing stored) and for a
    body that is not a JSON object (stored as ``rejected``, then raised).
    """
    _verify_signatures(endpoint, body, headers)
    try:
        payload = parse_body(body)
    except InvalidBody as error:
        # Authentic but malformed: keep it so an operator can see it.
        _store(
            endpoint=endpoint,
            dedupe_key="sha256-raw:" + hashlib.sha256(body).hexdigest(),
            payload=None,
            body=body,
            headers=headers,
            remote_addr=remote_addr,
            status=EventStatus.REJECTED,
            error=str(error),
        )
        raise Rejected(400, str(error)) from None
    _check_api_key(endpoint, payload)

    status, problem = EventStatus.RECEIVED, ""
    try:
        archive.check_event(payload)
    except archive.UnknownEventType as unknown:
        status, problem = EventStatus.SKIPPED, str(unknown)
    except archive.InvalidEvent as invalid:
        status, problem = EventStatus.REJECTED, str(invalid)

    event_id, created = _store(
        endpoint=endpoint,
        dedupe_key=dedupe_key_for(payload=payload, headers=headers, finite=holds_no_infinity(body)),
        payload=payload,
        body=body,
        headers=headers,
        remote_addr=remote_addr,
        status=status,
        error=problem,
    )
    if status == EventStatus.REJECTED:
        raise Rejected(400, problem)
    if not created:
        return Receipt(200, {"status": "duplicate", "id": event_id})
    return Receipt(
        202, {"status": "accepted" if status == EventStatus.RECEIVED else status, "id": event_id}
    )


def dedupe_key_for(*, payload: Any, headers: Mapping[str, str], finite: bool = False) -> str:
    """``webhook-id`` when the sender gives one, else SHA-256 of canonical JSON
    (``finite``: see canonical_json)."""
    message_id = headers.get("webhook-id")
    if message_id:
        return "webhook-id:" + message_id[:180]
    return canonical_key(canonical_json(payload, finite=finite))


def canonical_key(canonical: bytes) -> str:
    """The dedupe key of a payload whose ``canonical_json`` is ``canonical``."""
    return "sha256:" + digests.sha256(canonical).hexdigest()


def _verify_signatures(endpoint: WebhookEndpoint, body: bytes, headers: Mapping[str, str]) -> None:
    try:
        if endpoint.hmac_secrets:
            verify_hmac_sha256(
                body=body,
                header_value=headers.get(endpoint.signature_header),
                secrets=endpoint.hmac_secrets,
            )
        if endpoint.standard_webhooks_secrets:
            verify_standard_webhooks(
                body=body,
                headers=headers,
                secrets=endpoint.standard_webhooks_secrets,
                tolerance_seconds=settings.WEBHOOK_TIMESTAMP_TOLERANCE_SECONDS,
            )
    except SignatureError as error:
        _count_rejection(endpoint, str(error))
        raise Rejected(401, str(error)) from None


def _check_api_key(endpoint: WebhookEndpoint, payload: dict[str, Any]) -> None:
    if not endpoint.allowed_api_keys:
        return
    customer = payload.get("customer")
    api_key = customer.get("apiKey") if isinstance(customer, dict) else None
    allowed = False
    for candidate in endpoint.allowed_api_keys:
        if isinstance(api_key, str):
            allowed |= _constant_time_equal(candidate, api_key)
    if not allowed:
        _count_rejection(endpoint, "customer.apiKey not allowed")
        raise Rejected(403, "customer.apiKey is not allowed on this endpoint")


def _constant_time_equal(a: str, b: str) -> bool:
    # surrogatepass: a JSON string may hold a lone surrogate (fuzz-found 500).
    return hmac.compare_digest(a.encode(), b.encode("utf-8", "surrogatepass"))


def _count_rejection(endpoint: WebhookEndpoint, reason: str) -> None:
    logger.warning("webhook rejected on endpoint %s: %s", endpoint.name, reason)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        rejected_requests=F("rejected_requests") + 1, last_rejected_at=timezone.now()
    )


def _store(
    *,
    endpoint: WebhookEndpoint,
    dedupe_key: str,
    payload: dict[str, Any] | None,
    body: bytes,
    headers: Mapping[str, str],
    remote_addr: str | None,
    status: str,
    error: str,
) -> tuple[int, bool]:
    """Store the event; return its id and whether it is new (else a duplicate)."""
    kept_headers = {name: storable(headers[name]) for name in STORED_HEADERS if name in headers}
    if endpoint.signature_header in headers:
        kept_headers[endpoint.signature_header.lower()] = storable(
            headers[endpoint.signature_header]
        )
    customer = payload.get("customer") if payload else None
    customer_id = customer.get("id") if isinstance(customer, dict) else None
    now = timezone.now()
    # The connection itself, not django.db.connection: every attribute read
    # through that proxy is a thread-local lookup, a dozen per webhook.
    db = connections[DEFAULT_DB_ALIAS]
    ops = db.ops
    event_id = _insert_unless_duplicate(
        db,
        endpoint_id=endpoint.pk,
        source=EventSource.WEBHOOK.value,
        received_at=ops.adapt_datetimefield_value(now),
        dedupe_key=dedupe_key,
        event_type=archive.event_type_of(payload),
        customer_closer_id=(
            storable(str(customer_id))[:100] if isinstance(customer_id, str | int) else ""
        ),
        raw_body=body,
        # As text, which the database parses into jsonb and inet: psycopg's
        # Python-level dumpers for Jsonb and ip_address() cost more.
        headers=json.dumps(kept_headers),
        remote_addr=remote_addr or None,
        status=status,
        attempts=0,
        last_error=error,
        next_attempt_at=None,
        processed_at=ops.adapt_datetimefield_value(now if status != EventStatus.RECEIVED else None),
    )
    if event_id is None:
        existing = InboundEvent.objects.only("pk").get(endpoint=endpoint, dedupe_key=dedupe_key)
        return existing.pk, False
    if status == EventStatus.RECEIVED:
        from .tasks import hand_over

        # Right away in autocommit; after the caller's commit otherwise.
        transaction.on_commit(partial(hand_over, event_id), using=db.alias)
    return event_id, True


def _insert_unless_duplicate(db: BaseDatabaseWrapper, **columns: Any) -> int | None:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id: the new event's id, or
    None if its dedupe key was taken.

    One plain statement with values the caller made storable
    (``connection.ops``, or text the database parses), not
    ``InboundEvent(...).save()``, because this is the receive view's hot
    path: building the instance and preparing each field through the ORM cost
    more CPU than the statement itself (docs/benchmarks.md, "Ingest"), and a
    duplicate raised IntegrityError inside a savepoint. Every column is named,
    so a new column without a default fails here, loudly, in the tests. The
    dedupe constraints are the table's only unique keys besides the generated
    id, so "conflict" means "duplicate". In autocommit the statement is its
    own transaction: one round trip, committed when it returns.
    """
    with _insert_cursor(db) as cursor:
        cursor.execute(_insert_sql(db.vendor, tuple(columns)), list(columns.values()))
        row = cursor.fetchone()
    return None if row is None else int(row[0])


@cache
def _insert_sql(vendor: str, columns: tuple[str, ...]) -> str:
    """The INSERT for these columns, built once per process (``vendor``
    only keys the cache: quoting differs between databases)."""
    quote = connection.ops.quote_name
    table, pk_column = quote(InboundEvent._meta.db_table), quote(InboundEvent._meta.pk.column)
    names, placeholders = ", ".join(map(quote, columns)), ", ".join(["%s"] * len(columns))
    # Names from our own code; every value is a parameter.
    return f"INSERT INTO {table} ({names}) VALUES ({placeholders}) ON CONFLICT DO NOTHING RETURNING {pk_column}"  # noqa: E501, S608


# This thread's server-binding cursor, kept from one webhook to the next.
_insert_cursors = threading.local()


@contextmanager
def _insert_cursor(db: BaseDatabaseWrapper) -> Iterator[CursorWrapper]:
    """A Django cursor whose values travel apart from the SQL, on PostgreSQL.

    Django's own cursors inline every value into the statement's text
    (client-side binding): for the event INSERT that is a 5 KB hex literal
    of the body that PostgreSQL lexes and decodes, and a statement it parses
    and plans afresh, about a quarter of the server's CPU per insert. With
    server-side binding the body is sent as binary, and once the connection
    has run the statement a few times (``DATABASE_PREPARED_STATEMENTS``) it
    is a prepared statement (docs/benchmarks.md, "Ingest"). The psycopg
    cursor is kept for the thread's next webhook on the same connection: a
    new one looked up a dumper for each of the 14 values again (25 µs).
    Wrapped in Django's cursor wrapper: the same error translation and query
    logging as any other query.
    """
    if ServerBindingCursor is None or db.vendor != "postgresql":
        with db.cursor() as cursor:
            yield cursor
        return
    db.ensure_connection()
    db.validate_thread_sharing()
    raw = getattr(_insert_cursors, "cursor", None)
    if raw is None or raw.closed or raw.connection is not db.connection:
        with db.wrap_database_errors:
            raw = _insert_cursors.cursor = ServerBindingCursor(db.connection)
    make = db.make_debug_cursor if db.queries_logged else db.make_cursor
    yield make(raw)  # not closed: kept for the next webhook


# --- Processing --------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessingResult:
    status: str
    retry_in_seconds: float | None = None


def retry_delay(attempts: int) -> float:
    """Exponential backoff: base, 2*base, 4*base... capped at one hour."""
    return float(min(settings.EVENT_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), 3600))


# Statuses a processing task still has work to do for.
PENDING_STATUSES = (EventStatus.RECEIVED, EventStatus.FAILED)


def pending_among(*, event_ids: list[int]) -> list[int]:
    """Those of ``event_ids`` still waiting to be processed, in the given order."""
    if not event_ids:
        return []
    waiting = set(
        InboundEvent.objects.filter(pk__in=event_ids, status__in=PENDING_STATUSES).values_list(
            "pk", flat=True
        )
    )
    return [event_id for event_id in event_ids if event_id in waiting]


def process_inbound_event(*, event_id: int) -> ProcessingResult | None:
    """Apply one stored event to the archive and record how it went.

    Returns None when there is nothing to do: the event is already done, or
    another worker holds it right now.
    """
    pending = PENDING_STATUSES
    # Most duplicate tasks (the event went in another task's batch) end here,
    # on one query and no transaction.
    if not InboundEvent.objects.filter(pk=event_id, status__in=pending).exists():
        return None
    with transaction.atomic():
        # skip_locked: a duplicate task (a sweep re-send, a redelivery after a
        # lost ack) must not wait for, then redo, a worker's in-flight work.
        event = (
            InboundEvent.objects.select_for_update(skip_locked=True)
            .filter(pk=event_id, status__in=pending)
            .first()
        )
        if event is None:
            return None
        if event.status == EventStatus.RECEIVED and settings.EVENT_BATCH_SIZE > 1:
            batch_result = _process_with_waiting_events(event)
            if batch_result is not None:
                return batch_result
        event.attempts += 1
        try:
            payload = json.loads(bytes(event.raw_body))
        except ValueError as error:
            # Not JSON (a `rejected` event sent back by reprocess): retrying
            # cannot help.
            return _record_outcome(event, EventStatus.REJECTED, f"body is not JSON: {error}")
        try:
            if isinstance(payload, dict) and is_erased(payload):
                return _record_erased(event)
            with transaction.atomic():
                outcome = archive.apply_events(
                    [archive.IncomingEvent(payload=payload, inbound_event_id=event.pk)]
                ).outcomes[0]
        except Exception as error:
            logger.exception("processing inbound event %s failed", event.pk)
            return _record_failure(event, error)
        return _record_outcome(event, _OUTCOME_STATUS[outcome.status], outcome.reason)


_OUTCOME_STATUS = {
    archive.APPLIED: EventStatus.PROCESSED,
    archive.SKIPPED: EventStatus.SKIPPED,
    archive.INVALID: EventStatus.REJECTED,
}


def _process_with_waiting_events(event: InboundEvent) -> ProcessingResult | None:
    """Apply ``event`` together with other events waiting in the inbox, in one
    ``apply_events`` batch: a batch costs about as many queries as one event.

    Under load the queue holds a task for each of them too; those tasks then
    find their event done and return at once. If the batch fails, nothing of
    it is kept and None is returned: the caller applies ``event`` alone, with
    the usual error handling, and the others wait for their own tasks.
    """
    companions = list(
        InboundEvent.objects.select_for_update(skip_locked=True)
        .filter(status=EventStatus.RECEIVED)
        .exclude(pk=event.pk)
        .order_by("pk")[: settings.EVENT_BATCH_SIZE - 1]
    )
    if not companions:
        return None
    batch = [event, *companions]
    payloads: dict[int, Any] = {}
    for item in batch:
        try:
            payloads[item.pk] = json.loads(bytes(item.raw_body))
        except ValueError:
            return None  # rare: handled one by one
    try:
        with transaction.atomic():
            erased = erased_among(payloads)
            applied = [pk for pk in payloads if pk not in erased]
            outcomes = archive.apply_events(
                [archive.IncomingEvent(payload=payloads[pk], inbound_event_id=pk) for pk in applied]
            ).outcomes
    except Exception:
        logger.warning(
            "batch of %d events failed; applying event %s alone", len(batch), event.pk,
            exc_info=True,
        )  # fmt: skip
        return None
    by_pk = {item.pk: item for item in batch}
    # One UPDATE per distinct outcome (usually one: all processed), not
    # bulk_update's CASE per row and field, which cost a third of the
    # worker's CPU on batches of 50 (docs/benchmarks.md, "Ingest").
    by_outcome: dict[tuple[str, str], list[int]] = defaultdict(list)
    for pk, outcome in zip(applied, outcomes, strict=True):
        by_outcome[(_OUTCOME_STATUS[outcome.status], outcome.reason)].append(pk)
    now = timezone.now()
    for (status, reason), pks in by_outcome.items():
        InboundEvent.objects.filter(pk__in=pks).update(
            status=status,
            last_error=reason,
            attempts=F("attempts") + 1,
            processed_at=now,
            next_attempt_at=None,
        )
    for pk in erased:  # rare: only then rewrite the (large) bodies
        item = by_pk[pk]
        _blank_erased(item)
        item.attempts += 1
        item.processed_at, item.next_attempt_at = now, None
        item.save()
    if event.pk in erased:
        return ProcessingResult(EventStatus.ERASED)
    return ProcessingResult(next(st for (st, _), pks in by_outcome.items() if event.pk in pks))


def _record_outcome(event: InboundEvent, status: str, reason: str) -> ProcessingResult:
    event.status = status
    event.last_error = reason
    event.processed_at = timezone.now()
    event.next_attempt_at = None
    event.save(
        update_fields=["status", "attempts", "last_error", "processed_at", "next_attempt_at"]
    )
    return ProcessingResult(event.status)


def _record_erased(event: InboundEvent) -> ProcessingResult:
    """An event of an erased customer, from before the erasure: never applied,
    and its personal data goes the way of the rest of theirs."""
    _blank_erased(event)
    event.processed_at = timezone.now()
    event.next_attempt_at = None
    event.save()
    return ProcessingResult(event.status)


def _blank_erased(event: InboundEvent) -> None:
    event.status = EventStatus.ERASED
    event.raw_body = b""
    event.headers = {}
    event.remote_addr = None
    event.customer_closer_id = ""
    event.last_error = "customer erased"


def _record_failure(event: InboundEvent, error: Exception) -> ProcessingResult:
    event.last_error = f"{type(error).__name__}: {error}"[:10_000]
    if event.attempts >= settings.EVENT_MAX_ATTEMPTS:
        event.status = EventStatus.DEAD
        event.next_attempt_at = None
        delay = None
    else:
        event.status = EventStatus.FAILED
        delay = retry_delay(event.attempts)
        event.next_attempt_at = timezone.now() + timedelta(seconds=delay)
    event.save(update_fields=["status", "attempts", "last_error", "next_attempt_at"])
    return ProcessingResult(event.status, delay)


def events_due(*, grace_seconds: int = 60, limit: int = 10_000) -> list[int]:
    """Events the sweep should (re-)send: received but never picked up (and
    not already re-sent recently), or failed and past their retry time."""
    now = timezone.now()
    received = InboundEvent.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        status=EventStatus.RECEIVED,
        received_at__lte=now - timedelta(seconds=grace_seconds),
    )
    failed = InboundEvent.objects.filter(status=EventStatus.FAILED, next_attempt_at__lte=now)
    return sorted(
        [
            *received.order_by("pk").values_list("pk", flat=True)[:limit],
            *failed.order_by("pk").values_list("pk", flat=True)[:limit],
        ]
    )


@dataclass(frozen=True)
class SweepResult:
    due: int
    sent: int

    @property
    def broker_unreachable(self) -> bool:
        return self.sent < self.due


def sweep(*, grace_seconds: int, resend_after_seconds: int, limit: int = 10_000) -> SweepResult:
    """Send the processing task again for every event that is due.

    A ``received`` event that is re-sent is not re-sent again before
    ``resend_after_seconds``: under a backlog its task is still queued, and
    each sweep would otherwise queue another copy. Sending stops at the first
    publish failure (the broker is down; the next sweep tries again) so a
    sweep never spends a connect timeout per event.
    """
    from .tasks import send_processing

    event_ids = events_due(grace_seconds=grace_seconds, limit=limit)
    sent = send_processing(event_ids)
    if sent:
        InboundEvent.objects.filter(pk__in=event_ids[:sent], status=EventStatus.RECEIVED).update(
            next_attempt_at=timezone.now() + timedelta(seconds=resend_after_seconds)
        )
    if sent < len(event_ids):
        logger.warning("sweep: broker unreachable; %d of %d events sent", sent, len(event_ids))
    return SweepResult(due=len(event_ids), sent=sent)


REQUEUEABLE = (EventStatus.FAILED, EventStatus.DEAD, EventStatus.REJECTED)


def requeue(*, event_ids: list[int]) -> int:
    """Put failed, dead or rejected events back to ``received`` and send them
    after commit. Those the broker does not take now, the sweep sends."""
    from .tasks import send_processing

    with transaction.atomic():
        requeued = list(
            InboundEvent.objects.select_for_update()
            .filter(pk__in=event_ids, status__in=REQUEUEABLE)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        InboundEvent.objects.filter(pk__in=requeued).update(
            status=EventStatus.RECEIVED, attempts=0, next_attempt_at=None, last_error=""
        )
        transaction.on_commit(partial(send_processing, requeued))
    return len(requeued)
