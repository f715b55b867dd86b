"""Receiving: the request path of a webhook (verify, parse, store, hand over).

Verification comes first and nothing is stored for a request that fails it.
An authentic delivery is stored in one INSERT with its dedupe key; a new
event is handed to the outbox after commit, a duplicate is answered 200.
"""

import hmac
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import F
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from conversations import services as archive

from . import metrics, outbox
from .bodies import InvalidBody, holds_no_infinity, parse_body
from .dedupe import dedupe_key_for, raw_body_key
from .inbox_insert import insert_unless_duplicate
from .models import EventSource, EventStatus, InboundEvent, WebhookEndpoint, hash_token
from .signatures import SignatureError, verify_hmac_sha256, verify_standard_webhooks

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
    def __init__(self, status_code: int, reason: str, *, endpoint_name: str = "") -> None:
        super().__init__(reason)
        self.status_code = status_code
        self.reason = reason
        # Who was refused, when known (a disabled endpoint): for the metrics.
        self.endpoint_name = endpoint_name


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
        metrics.count_verification_failure(metrics.REASON_UNKNOWN_ENDPOINT)
        raise Rejected(401, "unknown endpoint")
    if not endpoint.is_active:
        _count_rejection(endpoint, "endpoint is disabled", metrics.REASON_ENDPOINT_DISABLED)
        raise Rejected(403, "endpoint is disabled", endpoint_name=endpoint.name)
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
            dedupe_key=raw_body_key(body),
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
        _count_rejection(endpoint, str(error), error.reason)
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
        _count_rejection(
            endpoint, "customer.apiKey not allowed", metrics.REASON_API_KEY_NOT_ALLOWED
        )
        raise Rejected(403, "customer.apiKey is not allowed on this endpoint")


def _constant_time_equal(a: str, b: str) -> bool:
    # surrogatepass: a JSON string may hold a lone surrogate.
    return hmac.compare_digest(a.encode(), b.encode("utf-8", "surrogatepass"))


def _count_rejection(endpoint: WebhookEndpoint, reason: str, reason_code: str) -> None:
    logger.warning("webhook rejected on endpoint %s: %s", endpoint.name, reason)
    metrics.count_verification_failure(reason_code)
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
    kept_headers = {
        name: archive.storable(headers[name]) for name in STORED_HEADERS if name in headers
    }
    if endpoint.signature_header in headers:
        kept_headers[endpoint.signature_header.lower()] = archive.storable(
            headers[endpoint.signature_header]
        )
    now = timezone.now()
    # The connection itself, not django.db.connection: every attribute read
    # through that proxy is a thread-local lookup, a dozen per webhook.
    db = connections[DEFAULT_DB_ALIAS]
    ops = db.ops
    event_id = insert_unless_duplicate(
        db,
        endpoint_id=endpoint.pk,
        source=EventSource.WEBHOOK.value,
        received_at=ops.adapt_datetimefield_value(now),
        dedupe_key=dedupe_key,
        event_type=archive.event_type_of(payload),
        customer_closer_id=archive.customer_id_of(payload),
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
        # Right away in autocommit; after the caller's commit otherwise.
        transaction.on_commit(partial(outbox.hand_over, event_id), using=db.alias)
    return event_id, True
