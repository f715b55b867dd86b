"""Retention: the policy of the settings applied to the archive and the inbox.

``apply_retention`` (``manage.py apply_retention`` and the daily beat task)
runs, in this order:

1. the archive's: conversations past ``RETENTION_CONVERSATIONS_DAYS``
   deleted or anonymised (``conversations.services.apply_conversation_retention``);
2. the inbox's: raw bodies and headers blanked ``RETENTION_INBOUND_BODIES_DAYS``
   after their event was processed (an endpoint's
   ``inbound_body_retention_days`` overrides it for its events; backfilled
   events have no endpoint and follow the setting). The row, its status and
   its dedupe key stay: a late re-delivery is still a duplicate (200,
   nothing stored). Events not done yet (received, failed, dead) keep
   their bodies: an operator may still need them;
3. the access log's: records older than ``AUDIT_RETENTION_DAYS``
   (``audit.services.prune_access_records``).

What retention deleted never comes back: an event timestamped before the
conversation horizon that reaches processing or the backfill by another
path than a re-delivery (a retry whose body differs, ``reprocess_events``,
an old dump) is marked ``expired`` and not applied (``expired_among``).
"""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit import services as access_log
from conversations import services as archive

from .models import PRUNED_BODY_VALUES, EventStatus, InboundEvent, WebhookEndpoint

logger = logging.getLogger(__name__)

Progress = Callable[[str, int], None]  # (kind, rows done in a batch)


@dataclass
class RetentionReport:
    """What a run did (or, with ``dry_run``, would do): counts by kind."""

    dry_run: bool
    counts: dict[str, int] = field(default_factory=dict)
    policy: list[str] = field(default_factory=list)  # the rules applied, in words


def conversation_horizon(now: datetime | None = None) -> datetime | None:
    """Conversations whose period started before this are past retention
    (None: retention of conversations is off)."""
    days = settings.RETENTION_CONVERSATIONS_DAYS
    if days is None:
        return None
    return (now or timezone.now()) - timedelta(days=days)


def expired_among(payloads: Mapping[int, Any], *, now: datetime | None = None) -> set[int]:
    """The keys of ``payloads`` that are events timestamped before the
    conversation horizon: the archive would not keep what they make, so
    they are not applied. An event without a usable timestamp is left to
    the normaliser (which rejects it)."""
    horizon = conversation_horizon(now)
    if horizon is None:
        return set()
    horizon_ms = archive.datetime_to_ms(horizon)
    return {
        ref
        for ref, payload in payloads.items()
        if isinstance(timestamp := _timestamp(payload), int | float) and timestamp < horizon_ms
    }


def _timestamp(payload: Any) -> Any:
    timestamp = payload.get("timestamp") if isinstance(payload, dict) else None
    return None if isinstance(timestamp, bool) else timestamp


def apply_retention(
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> RetentionReport:
    """Apply the retention settings once; report what was (would be) done."""
    now = now or timezone.now()
    batch_size = batch_size or settings.RETENTION_BATCH_SIZE
    report = RetentionReport(dry_run=dry_run)
    _apply_to_conversations(report, now=now, batch_size=batch_size, progress=progress)
    _apply_to_inbound_bodies(report, now=now, batch_size=batch_size, progress=progress)
    _apply_to_access_log(report, now=now, batch_size=batch_size)
    return report


def _apply_to_access_log(report: RetentionReport, *, now: datetime, batch_size: int) -> None:
    cutoff = access_log.retention_cutoff(now)
    report.policy.append(
        f"access log: records deleted {settings.AUDIT_RETENTION_DAYS} days after the read"
        f" (before {cutoff:%Y-%m-%d %H:%M} UTC)"
    )
    report.counts["access records deleted"] = access_log.prune_access_records(
        older_than=cutoff, batch_size=batch_size, dry_run=report.dry_run
    )


def _apply_to_conversations(
    report: RetentionReport, *, now: datetime, batch_size: int, progress: Progress | None
) -> None:
    horizon = conversation_horizon(now)
    if horizon is None:
        report.policy.append("conversations: kept for ever (RETENTION_CONVERSATIONS_DAYS unset)")
        return
    action = settings.RETENTION_CONVERSATIONS_ACTION
    done = "deleted" if action == "delete" else "anonymised"
    report.policy.append(
        f"conversations: {done} {settings.RETENTION_CONVERSATIONS_DAYS} days after closing"
        f" (closed, or if open opened, before {horizon:%Y-%m-%d %H:%M} UTC)"
    )
    if report.dry_run:
        counts = archive.count_past_retention(horizon=horizon, action=action)
    else:
        counts = archive.apply_conversation_retention(
            horizon=horizon,
            action=action,
            batch_size=batch_size,
            on_batch=(lambda batch: progress("conversations", batch.conversations))
            if progress
            else None,
        )
        logger.info("retention: conversations %s: %s", done, counts.as_dict())
    for kind, count in counts.as_dict().items():
        report.counts[f"{kind.replace('_', ' ')} {done}"] = count


def body_retention_days() -> dict[int | None, int]:
    """Days to keep raw bodies after processing, by endpoint id (None: the
    backfilled events, which have no endpoint); endpoints without any are left out."""
    default = settings.RETENTION_INBOUND_BODIES_DAYS
    days: dict[int | None, int] = {}
    for endpoint_id, override in WebhookEndpoint.objects.values_list(
        "pk", "inbound_body_retention_days"
    ):
        if (kept := override or default) is not None:
            days[endpoint_id] = kept
    if default is not None:
        days[None] = default
    return days


def _apply_to_inbound_bodies(
    report: RetentionReport, *, now: datetime, batch_size: int, progress: Progress | None
) -> None:
    by_endpoint = body_retention_days()
    default = settings.RETENTION_INBOUND_BODIES_DAYS
    overrides = {days for endpoint_id, days in by_endpoint.items() if days != default}
    report.policy.append(
        "inbound bodies: "
        + (f"pruned {default} days after processing" if default else "kept for ever")
        + (" (some endpoints override it)" if overrides else "")
    )
    pruned = 0
    for endpoint_id, days in by_endpoint.items():
        due = _bodies_due(endpoint_id, now - timedelta(days=days))
        if report.dry_run:
            pruned += due.count()
            continue
        while True:
            with transaction.atomic():
                ids = list(
                    due.select_for_update(skip_locked=True)
                    .order_by()
                    .values_list("pk", flat=True)[:batch_size]
                )
                if not ids:
                    break
                InboundEvent.objects.filter(pk__in=ids).update(
                    **PRUNED_BODY_VALUES, body_pruned_at=now
                )
            pruned += len(ids)
            if progress:
                progress("inbound bodies", len(ids))
    if not report.dry_run and pruned:
        logger.info("retention: %d inbound bodies pruned", pruned)
    report.counts["inbound bodies pruned"] = pruned


def _bodies_due(endpoint_id: int | None, cutoff: datetime) -> Any:
    """The events of one endpoint (None: the backfill's) processed before
    ``cutoff`` whose body is still there (inbound_body_retention_idx).
    Erased and expired events were blanked already."""
    events = InboundEvent.objects.filter(processed_at__lt=cutoff, body_pruned_at=None).exclude(
        status__in=[EventStatus.ERASED, EventStatus.EXPIRED]
    )
    if endpoint_id is None:
        return events.filter(endpoint__isnull=True)
    return events.filter(endpoint_id=endpoint_id)
