"""The way in: webhook endpoints and the inbox of events received.

An ``InboundEvent`` is written in the request that delivers it and is the
outbox for processing: once it is committed, nothing can lose it.
"""

import hashlib
import secrets
from datetime import datetime
from typing import Any

from django.db import models
from django.db.models import Q

DEFAULT_SIGNATURE_HEADER = "X-Signature-256"


def hash_token(token: str) -> str:
    """Endpoints are looked up by a hash of their URL token, never the token
    itself: the lookup leaks no timing about the secret, and a database dump
    does not reveal working URLs."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


class WebhookEndpoint(models.Model):
    """One configured receiver (a Closer widget or organisation)."""

    name = models.CharField(max_length=100, unique=True)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    token_hint = models.CharField(
        max_length=8, editable=False, help_text="First characters of the URL token."
    )
    hmac_secrets = models.JSONField(
        default=list,
        blank=True,
        help_text="HMAC-SHA256 secrets; several while rotating. Empty: no HMAC check.",
    )
    signature_header = models.CharField(max_length=100, default=DEFAULT_SIGNATURE_HEADER)
    standard_webhooks_secrets = models.JSONField(
        default=list,
        blank=True,
        help_text="Standard Webhooks secrets (whsec_…); several while rotating.",
    )
    allowed_api_keys = models.JSONField(
        default=list,
        blank=True,
        help_text="Accepted customer.apiKey values. Empty: any.",
    )
    is_active = models.BooleanField(default=True)
    inbound_body_retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Days to keep the raw bodies and headers of this endpoint's events after "
        "processing. Empty: RETENTION_INBOUND_BODIES_DAYS.",
    )
    rejected_requests = models.PositiveBigIntegerField(
        default=0, editable=False, help_text="Requests that failed verification."
    )
    last_rejected_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            # 0 days would prune a body the moment it is processed: say so
            # with an empty override and no global setting instead.
            models.CheckConstraint(
                condition=Q(inbound_body_retention_days__isnull=True)
                | Q(inbound_body_retention_days__gte=1),
                name="endpoint_body_retention_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def set_token(self) -> str:
        """Give the endpoint a new URL token; return it (shown once)."""
        token = new_token()
        self.token_hash = hash_token(token)
        self.token_hint = token[:6]
        return token


class EventSource(models.TextChoices):
    WEBHOOK = "webhook", "Webhook"
    BACKFILL = "backfill", "Backfill"


class EventStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed (will retry)"
    DEAD = "dead", "Dead (retries exhausted)"
    SKIPPED = "skipped", "Skipped (unknown type)"
    REJECTED = "rejected", "Rejected (malformed)"
    # Its customer was erased (GDPR): body and headers blanked, the dedupe key
    # kept so a re-delivery is still recognised and answered 200.
    ERASED = "erased", "Erased (customer data removed)"
    # Older than the conversation retention period when it came to be
    # applied: not archived (the archive would not keep it), body and headers
    # blanked, the dedupe key kept.
    EXPIRED = "expired", "Expired (older than the retention period)"


# What erasure leaves of an inbound event: the row, its status and its dedupe
# key (a sender's retry is still recognised and answered 200), nothing personal.
ERASED_EVENT_VALUES: dict[str, Any] = {
    "status": EventStatus.ERASED,
    "raw_body": b"",
    "headers": {},
    "remote_addr": None,
    "customer_closer_id": "",
    "last_error": "customer erased",
    "next_attempt_at": None,
}


# What retention leaves of an inbound event whose body it prunes: the row, its
# status, its dedupe key (a late re-delivery is still answered 200 and
# creates nothing) and what it was filed under; set with ``body_pruned_at``.
PRUNED_BODY_VALUES: dict[str, Any] = {"raw_body": b"", "headers": {}, "remote_addr": None}

# What is left of an event that was too old to apply (see EventStatus.EXPIRED).
EXPIRED_EVENT_VALUES: dict[str, Any] = {
    **PRUNED_BODY_VALUES,
    "status": EventStatus.EXPIRED,
    "last_error": "older than the conversation retention period",
    "next_attempt_at": None,
}


class InboundEventQuerySet(models.QuerySet["InboundEvent"]):
    def blank_erased(self, **also: Any) -> int:
        """Blank these events as erased (``ERASED_EVENT_VALUES``, and the
        fields in ``also``) in one UPDATE; return how many."""
        return self.update(**ERASED_EVENT_VALUES, **also)

    def oldest_received_at(self) -> datetime | None:
        """When the event that has waited longest in ``received`` arrived
        (None: none is waiting). One step down ``inbound_received_age_idx``."""
        return (
            self.filter(status=EventStatus.RECEIVED)
            .order_by("received_at")
            .values_list("received_at", flat=True)
            .first()
        )


class InboundEvent(models.Model):
    """One event as received: raw body, headers, and its processing state."""

    endpoint = models.ForeignKey(
        WebhookEndpoint,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="events",
        # No index of its own: uniq_inbound_event_per_endpoint leads with
        # endpoint_id and serves WHERE endpoint_id = ?; one index less to
        # write on every webhook.
        db_index=False,
    )
    source = models.CharField(max_length=10, choices=EventSource.choices)
    received_at = models.DateTimeField(auto_now_add=True)
    # webhook-id when the sender gives one, else SHA-256 of the canonical JSON.
    # Kept as long as the row: senders retry for days.
    dedupe_key = models.CharField(max_length=200)
    event_type = models.CharField(max_length=100, blank=True, help_text="eventType as sent.")
    customer_closer_id = models.CharField(max_length=100, blank=True)
    raw_body = models.BinaryField(help_text="The body exactly as received.")
    headers = models.JSONField(default=dict, blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=EventStatus.choices, default=EventStatus.RECEIVED
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    # When retention blanked the raw body and headers (webhooks/retention.py).
    body_pruned_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = InboundEventQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            # A re-delivery finds its key taken and is answered 200.
            models.UniqueConstraint(
                fields=["endpoint", "dedupe_key"],
                condition=Q(endpoint__isnull=False),
                name="uniq_inbound_event_per_endpoint",
            ),
            # Backfilled events have no endpoint; they dedupe among themselves.
            models.UniqueConstraint(
                fields=["dedupe_key"],
                condition=Q(endpoint__isnull=True),
                name="uniq_inbound_event_without_endpoint",
            ),
        ]
        indexes = [
            # The sweep (WHERE status = 'received' | 'failed' AND next_attempt_at
            # <= now) and reprocess_events / the admin's status filter for the
            # events that need an operator ('dead', 'rejected'). Partial: only
            # those statuses are in it, so it stays small however many millions
            # are processed, and marking an event processed takes it out
            # instead of writing one more entry.
            models.Index(
                fields=["status", "next_attempt_at"],
                condition=Q(status__in=["received", "failed", "dead", "rejected"]),
                name="inbound_pending_idx",
            ),
            # The readiness check's stalled-inbox query (closerarchive/health.py):
            # the oldest `received` event. inbound_pending_idx also finds the
            # received rows but not in arrival order, so that query would read
            # every one of them (32 ms at a backlog of 100,000 here, growing
            # with it, on every probe, just when the database is busiest);
            # this one answers from its first entry. Partial, like
            # inbound_pending_idx: only events waiting for a worker are in it.
            models.Index(
                fields=["received_at"],
                condition=Q(status="received"),
                name="inbound_received_age_idx",
            ),
            # Admin links from a conversation: WHERE customer_closer_id = ?.
            models.Index(fields=["customer_closer_id"], name="inbound_customer_idx"),
            # Retention's body pruning, per endpoint: WHERE endpoint_id = ?
            # (or IS NULL) AND processed_at < ? AND body_pruned_at IS NULL
            # LIMIT n. Partial: a webhook is not in it when it is received
            # (processed_at is null), so the receive path's INSERT writes no
            # entry, and a pruned event leaves it.
            models.Index(
                fields=["endpoint", "processed_at"],
                condition=Q(body_pruned_at=None, processed_at__isnull=False),
                name="inbound_body_retention_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type or 'event'} #{self.pk} ({self.status})"

    def blank_expired(self, now: datetime) -> None:
        """Set ``EXPIRED_EVENT_VALUES`` on this instance (saved by the caller)."""
        for name, value in EXPIRED_EVENT_VALUES.items():
            setattr(self, name, value)
        self.body_pruned_at = now

    def blank_erased(self) -> None:
        """Set ``ERASED_EVENT_VALUES`` on this instance (saved by the caller)."""
        for name, value in ERASED_EVENT_VALUES.items():
            setattr(self, name, value)


def customer_key(closer_id: str) -> str:
    """How an erased customer is remembered: a hash, not their Closer id."""
    return hashlib.sha256(closer_id.encode("utf-8", "surrogatepass")).hexdigest()


class CustomerErasure(models.Model):
    """The audit record of one GDPR erasure, and the tombstone that keeps the
    customer erased: an event of theirs timestamped before ``erased_at`` that
    arrives later (a sender's retry, a backfill of an old dump, a reprocess)
    is marked ``erased`` and never applied. Newer events are new data and are
    archived as usual.
    """

    customer_key = models.CharField(
        max_length=64, unique=True, help_text="SHA-256 of the customer's Closer id."
    )
    erased_at = models.DateTimeField()
    erased_by = models.CharField(max_length=150, blank=True, help_text="Who ran the erasure.")
    counts = models.JSONField(default=dict, help_text="Rows removed or blanked, by kind.")

    class Meta:
        ordering = ["-erased_at"]

    def __str__(self) -> str:
        return f"Erasure of customer {self.customer_key[:12]}… at {self.erased_at:%Y-%m-%d %H:%M}"
