"""Backfill: dumped events in, through the same inbox and normaliser as webhooks.

Each dumped event is recorded as an ``InboundEvent`` (source ``backfill``, no
endpoint) under the same dedupe key a webhook delivery of the same body would
get, so running a dump twice adds nothing the second time. The events a batch
adds are applied by the archive's ``apply_events`` in the batch's
transaction: a batch lands whole or not at all.

A record that cannot be archived never stops the run and never half-applies:
it is returned as a failure and nothing of it is stored. When the normaliser
raises (rather than reporting an invalid event), the batch is rolled back and
retried in halves until the record responsible is alone.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import (
    InterfaceError,
    OperationalError,
    ProgrammingError,
    connection,
    transaction,
)
from django.utils import timezone

from conversations import services as archive
from conversations.bulk import stage_rows, use_copy
from webhooks.canonical import canonical_json
from webhooks.dedupe import canonical_key
from webhooks.erasure import erased_among
from webhooks.models import EXPIRED_EVENT_VALUES, EventSource, EventStatus, InboundEvent
from webhooks.retention import expired_among

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DumpedEvent:
    """One record of a dump, screened and keyed (see ``dumped_event``)."""

    payload: Any
    position: Any  # the caller's, handed back with failures
    # The record's bytes as read (NDJSON), else its canonical JSON; None
    # only when ``problem`` is set.
    raw: bytes | None
    dedupe_key: str  # empty when ``problem`` is set
    problem: str  # why it is not even an event; empty when it is one
    prepared: archive.PreparedEvent | None  # parsed ahead; None when ``problem`` is set
    # The inbox row's columns, also worked out ahead (empty with ``problem``).
    event_type: str = ""
    customer_closer_id: str = ""


def dumped_event(*, payload: Any, position: Any = None, raw: bytes | None = None) -> DumpedEvent:
    """Screen one record, compute its dedupe key and parse it.

    Pure CPU and no database, so the backfill command runs it on its reading
    thread while the database works on the previous batch.
    """
    problem = _screen(payload)
    if problem:
        return DumpedEvent(payload, position, raw, "", problem, None)
    try:
        # What dedupe_key_for(payload=payload, headers={}) computes, with the
        # canonical JSON kept as the raw body when the dump gives none (arrays).
        canonical = canonical_json(payload)
    except (ValueError, RecursionError) as error:  # e.g. nested thousands deep
        return DumpedEvent(payload, position, raw, "", f"cannot be encoded: {error}", None)
    key = canonical_key(canonical)
    if raw is None:
        raw = canonical
    try:
        prepared: archive.PreparedEvent | None = archive.prepare_event(payload)
    except Exception:
        # Parsed again when applied, where a failure is pinned on this record
        # alone instead of ending the reading thread and the run.
        prepared = None
    return DumpedEvent(
        payload,
        position,
        raw,
        key,
        "",
        prepared,
        event_type=archive.event_type_of(payload),
        customer_closer_id=archive.customer_id_of(payload),
    )


@dataclass(frozen=True)
class Failure:
    event: DumpedEvent
    reason: str


@dataclass
class BackfillResult:
    new_events: int = 0
    duplicates: int = 0
    skipped: int = 0  # unknown event types: kept in the inbox, not archived
    erased: int = 0  # events of erased customers from before their erasure: not archived
    expired: int = 0  # events older than the conversation retention period: not archived
    new_conversations: int = 0
    new_messages: int = 0
    retries: int = 0  # batches applied again after losing a deadlock to another applier
    failures: list[Failure] = field(default_factory=list)

    def add(self, other: "BackfillResult") -> None:
        self.new_events += other.new_events
        self.duplicates += other.duplicates
        self.skipped += other.skipped
        self.erased += other.erased
        self.expired += other.expired
        self.new_conversations += other.new_conversations
        self.new_messages += other.new_messages
        self.retries += other.retries
        self.failures += other.failures


def backfill_events(*, events: Sequence[DumpedEvent], dry_run: bool = False) -> BackfillResult:
    """Record and apply one batch of dumped events; report what happened to each.

    With ``dry_run`` the events are validated and checked against the inbox,
    and nothing is written.
    """
    result = BackfillResult()
    candidates: dict[str, DumpedEvent] = {}
    for event in events:
        if event.problem:
            result.failures.append(Failure(event, event.problem))
        elif event.dedupe_key in candidates:
            result.duplicates += 1  # the same body twice in one batch
        else:
            candidates[event.dedupe_key] = event
    if dry_run:
        _validate(list(candidates.values()), result)
    else:
        _apply_resiliently(list(candidates.values()), result)
    return result


def _screen(payload: Any) -> str:
    """The reasons a record is not even an event (checked before any parsing)."""
    if not isinstance(payload, dict):
        return f"not a JSON object but {_json_type(payload)}"
    event_type = payload.get("eventType")
    if event_type is None:
        return "eventType is missing"
    if not isinstance(event_type, str):
        return "eventType is not a string"
    return ""


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _validate(candidates: list[DumpedEvent], result: BackfillResult) -> None:
    stored = _already_stored([c.dedupe_key for c in candidates])
    expired = expired_among({i: c.payload for i, c in enumerate(candidates)})
    for i, candidate in enumerate(candidates):
        if candidate.dedupe_key in stored:
            result.duplicates += 1
            continue
        if i in expired:
            result.expired += 1
            continue
        outcome = (candidate.prepared or archive.prepare_event(candidate.payload)).outcome
        if outcome.status == archive.SKIPPED:
            result.skipped += 1
        elif outcome.status == archive.INVALID:
            result.failures.append(Failure(candidate, outcome.reason))
        else:
            result.new_events += 1


def _apply_resiliently(candidates: list[DumpedEvent], result: BackfillResult) -> None:
    """Apply in one transaction; on an unexpected error, split to find the culprit."""
    if not candidates:
        return
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with transaction.atomic():
                _tune_backfill_transaction(len(candidates))
                applied = _apply(candidates)
            break
        except OperationalError as error:
            # Parallel appliers (backfill.pool) share advisers: should two
            # ever deadlock, PostgreSQL aborts one batch, which is retried.
            if _lost_a_race(error) and attempt < _ATTEMPTS:
                result.retries += 1
                continue
            raise  # the database is gone: no record is to blame, stop the run
        except InterfaceError:
            raise
        except Exception as error:
            if isinstance(error, ProgrammingError) and _schema_error(error):
                raise  # the schema is not migrated: no record is to blame either
            _isolate(candidates, error, result)
            return
    result.add(applied)


def _tune_backfill_transaction(size: int) -> None:
    """Settings for this batch's transaction only (SET LOCAL), on PostgreSQL.

    synchronous_commit = off: a server crash can lose only whole, recent
    batches, inbox rows included, so running the same backfill again re-adds
    exactly them (webhooks keep the default: 202 means on disk).
    default_toast_compression = lz4 where the server has it: the raw bodies
    cost half the CPU to compress (docs/benchmarks.md, Backfill); each value
    records its own method, so reading needs nothing.
    """
    if connection.vendor != "postgresql" or not use_copy(size):
        return
    with connection.cursor() as cursor:
        cursor.execute(_TUNE_BACKFILL_TRANSACTION)


_TUNE_BACKFILL_TRANSACTION = """
    SELECT set_config('synchronous_commit', 'off', true),
           set_config('default_toast_compression',
                      CASE WHEN 'lz4' = ANY(enumvals) THEN 'lz4' ELSE setting END, true)
    FROM pg_settings WHERE name = 'default_toast_compression'
"""


def _isolate(candidates: list[DumpedEvent], error: Exception, result: BackfillResult) -> None:
    """The batch failed: report a lone record, or retry each half."""
    if len(candidates) == 1:
        logger.warning("backfill: record failed to apply", exc_info=True)
        reason = f"failed to apply: {type(error).__name__}: {error}"
        result.failures.append(Failure(candidates[0], reason[:1000]))
        return
    middle = len(candidates) // 2
    _apply_resiliently(candidates[:middle], result)
    _apply_resiliently(candidates[middle:], result)


_ATTEMPTS = 3


def _lost_a_race(error: OperationalError) -> bool:
    """SQLSTATE class 40 (deadlock detected, serialization failure): the
    transaction lost to another one, not to its records."""
    return str(getattr(error.__cause__, "sqlstate", "") or "").startswith("40")


def _schema_error(error: ProgrammingError) -> bool:
    """SQLSTATE class 42 (undefined table or column…): the code and the
    database disagree, whatever the records hold."""
    return str(getattr(error.__cause__, "sqlstate", "") or "").startswith("42")


def _apply(candidates: list[DumpedEvent]) -> BackfillResult:
    result = BackfillResult()
    stored = _store(candidates)
    result.duplicates = len(candidates) - len(stored)
    if not stored:
        return result
    fresh = [c for c in candidates if c.dedupe_key in stored]
    # An old dump must not bring an erased customer back (the same rule as
    # the webhook path): keep only the dedupe key of such events.
    erased = erased_among({i: c.payload for i, c in enumerate(fresh)})
    if erased:
        result.erased = len(erased)
        InboundEvent.objects.filter(
            pk__in=[stored[fresh[i].dedupe_key] for i in erased]
        ).blank_erased()
        fresh = [c for i, c in enumerate(fresh) if i not in erased]
    # Nor bring back what retention deleted: events older than its horizon.
    expired = expired_among({i: c.payload for i, c in enumerate(fresh)})
    if expired:
        result.expired = len(expired)
        InboundEvent.objects.filter(pk__in=[stored[fresh[i].dedupe_key] for i in expired]).update(
            **EXPIRED_EVENT_VALUES, body_pruned_at=timezone.now()
        )
        fresh = [c for i, c in enumerate(fresh) if i not in expired]
    applied = archive.apply_events(
        [
            archive.IncomingEvent(
                payload=c.payload, inbound_event_id=stored[c.dedupe_key], prepared=c.prepared
            )
            for c in fresh
        ],
        # Appliers in parallel share advisers: hold their locks only at the end.
        late_adviser_locks=True,
    )
    rejected: list[int] = []
    for candidate, outcome in zip(fresh, applied.outcomes, strict=True):
        if outcome.status == archive.SKIPPED:
            result.skipped += 1
            InboundEvent.objects.filter(pk=stored[candidate.dedupe_key]).update(
                status=EventStatus.SKIPPED, last_error=outcome.reason
            )
        elif outcome.status == archive.INVALID:
            # Not archived, so not kept either: the errors file reports it and
            # a corrected dump can be backfilled later under the same key.
            result.failures.append(Failure(candidate, outcome.reason))
            rejected.append(stored[candidate.dedupe_key])
        else:
            result.new_events += 1
    if rejected:
        InboundEvent.objects.filter(pk__in=rejected).delete()
    result.new_conversations = applied.new_conversations
    result.new_messages = applied.new_messages
    return result


def _store(candidates: list[DumpedEvent]) -> dict[str, int]:
    """Insert the events not stored yet, as processed; return their ids by key.

    Rows are stored as processed up front: the few the normaliser skips or
    rejects are corrected afterwards, which saves an UPDATE of every row.
    """
    if use_copy(len(candidates)):
        return _store_by_copy(candidates)
    stored = _already_stored([c.dedupe_key for c in candidates])
    fresh = [c for c in candidates if c.dedupe_key not in stored]
    now = timezone.now()
    rows = InboundEvent.objects.bulk_create(
        [
            InboundEvent(
                source=EventSource.BACKFILL,
                dedupe_key=c.dedupe_key,
                event_type=c.event_type,
                customer_closer_id=c.customer_closer_id,
                raw_body=_raw_body(c),
                status=EventStatus.PROCESSED,
                attempts=1,
                processed_at=now,
            )
            for c in fresh
        ]
    )
    return {row.dedupe_key: row.pk for row in rows}


_STAGE = "webhooks_inboundevent_stage"
_STAGE_COLUMNS = (
    ("position", "integer"),
    ("dedupe_key", "text"),
    ("event_type", "text"),
    ("customer_closer_id", "text"),
    ("raw_body", "bytea"),
)
# ON CONFLICT .. DO NOTHING RETURNING: one statement tells which keys are new,
# and a concurrent backfill of the same dump cannot make it fail.
_INSERT_STAGED_EVENTS = f"""
    INSERT INTO {InboundEvent._meta.db_table} (endpoint_id, source, received_at, dedupe_key,
        event_type, customer_closer_id, raw_body, headers, status, attempts, last_error,
        processed_at)
    SELECT NULL, %(source)s, %(now)s, dedupe_key, event_type, customer_closer_id, raw_body,
        '{{}}'::jsonb, %(status)s, 1, '', %(now)s
    FROM {_STAGE} ORDER BY position
    ON CONFLICT (dedupe_key) WHERE endpoint_id IS NULL DO NOTHING
    RETURNING dedupe_key, id
"""  # noqa: S608 (names only)


def _store_by_copy(candidates: list[DumpedEvent]) -> dict[str, int]:
    """The same on PostgreSQL by COPY: binding megabytes of raw bodies as
    parameters costs more in Python than the database spends storing them."""
    stage_rows(
        stage=_STAGE,
        columns=_STAGE_COLUMNS,
        rows=(
            (position, c.dedupe_key, c.event_type, c.customer_closer_id, _raw_body(c))
            for position, c in enumerate(candidates)
        ),
    )
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_STAGED_EVENTS,
            {
                "source": EventSource.BACKFILL.value,
                "status": EventStatus.PROCESSED.value,
                "now": timezone.now(),
            },
        )
        return dict(cursor.fetchall())


def _already_stored(keys: list[str]) -> set[str]:
    # Served by the partial unique index uniq_inbound_event_without_endpoint.
    return set(
        InboundEvent.objects.filter(endpoint__isnull=True, dedupe_key__in=keys).values_list(
            "dedupe_key", flat=True
        )
    )


def _raw_body(event: DumpedEvent) -> bytes:
    return event.raw if event.raw is not None else canonical_json(event.payload)
