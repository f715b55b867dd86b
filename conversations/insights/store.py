"""Writing the Insights tables: per-conversation metrics and hourly roll-ups.

The normaliser calls ``write_metrics`` in ``apply_events``' transaction for
the conversations a batch wrote (created, re-paired or given messages); it
reads their messages (four narrow columns), computes ``metrics.metrics_of``
and upserts one ``ConversationMetrics`` row each (on PostgreSQL, ``in_sql``
does the same in one statement, in the database). It does not aggregate: it
records the hours whose roll-ups are now stale (``InsightsPendingHour``, a
plain INSERT, no lock), and ``refresh_rollups`` recomputes those hours
before anything reads them (the Insights page and API call it first). A
worker thus never waits on another for a busy hour.

Whatever deletes conversations calls ``forget_conversations`` before the
rows go (``services.record_deletions`` does it, so erasure, retention and
re-pairing all do), so the hours they were counted in are refreshed.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, models, transaction
from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.db.models.functions import TruncHour

from .. import models as archive
from . import in_sql
from .metrics import ConversationFacts, MessageFacts, metrics_of

HOUR = timedelta(hours=1)
# pg_advisory_xact_lock key: one refresh of the roll-ups at a time.
_ROLLUP_LOCK = 7_318_001
_CHUNK = 1000
_ROLLUP_SUMS = (
    "customer_messages",
    "adviser_messages",
    "bot_messages",
    "other_messages",
    "assignee_messages",
)


@dataclass(frozen=True)
class Tables:
    """The models written; a data migration passes its historical ones."""

    Conversation: Any = archive.Conversation
    Message: Any = archive.Message
    Adviser: Any = archive.Adviser
    ConversationMetrics: Any = archive.ConversationMetrics
    InsightsHour: Any = archive.InsightsHour
    InsightsPendingHour: Any = archive.InsightsPendingHour


ARCHIVE_TABLES = Tables()


def hour_of(moment: datetime) -> datetime:
    """The UTC hour a moment falls in."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def write_metrics(conversation_ids: Iterable[int], *, tables: Tables = ARCHIVE_TABLES) -> None:
    """Compute and store the metrics of these conversations (rows that no
    longer exist are skipped) and mark their old and new hours pending."""
    ids = sorted(set(conversation_ids))
    if not ids:
        return
    if (
        connection.vendor == "postgresql"
        and in_sql.ServerBindingCursor is not None
        and tables is ARCHIVE_TABLES
    ):
        in_sql.write_metrics(ids)  # the same, computed where the messages are
    else:
        write_metrics_in_python(ids, tables=tables)


def write_metrics_in_python(ids: list[int], *, tables: Tables = ARCHIVE_TABLES) -> None:
    """``write_metrics`` by ``metrics.metrics_of``: the definition, run on
    SQLite and by data migrations (``in_sql`` is pinned to it)."""
    rows, messages, bots = _read_facts(ids, tables)
    if not rows:
        return  # all gone meanwhile: nothing to store, no hour to mark
    stored = []
    hours = {hour_of(row[7]) for row in rows.values() if row[7] is not None}
    for pk, opened_at, closed_at, status, closed_type, assignee_id, assignee, _ in rows.values():
        facts = ConversationFacts(opened_at, closed_at, assignee)
        computed = metrics_of(facts, messages[pk], bots)
        stored.append(
            tables.ConversationMetrics(
                conversation_id=pk,
                opened_at=opened_at,
                status=status,
                closed_type=closed_type,
                assignee_id=assignee_id,
                **{field.name: getattr(computed, field.name) for field in fields(computed)},
            )
        )
        hours.add(hour_of(opened_at))
    tables.ConversationMetrics.objects.bulk_create(
        stored,
        update_conflicts=True,
        unique_fields=["conversation"],
        update_fields=[
            field.name
            for field in tables.ConversationMetrics._meta.concrete_fields
            if not field.primary_key
        ],
        batch_size=_CHUNK,
    )
    mark_pending(hours, tables=tables)


def _read_facts(
    ids: list[int], tables: Tables
) -> tuple[dict[int, tuple[Any, ...]], dict[int, list[MessageFacts]], dict[str, bool]]:
    """The rows (pk, opened, closed, status, closed type, assignee id, the
    assignee's Closer id, and the opening time of the stored metrics: the
    hour they were counted in until now, refreshed too), their messages in
    (sent, id) order, and whether each author is a known bot. A LEFT JOIN:
    a row without messages comes once, with NULLs."""
    by_bot = Exists(
        tables.Adviser.objects.filter(closer_id=OuterRef("messages__author_closer_id"), is_bot=True)
    )
    rows: dict[int, tuple[Any, ...]] = {}
    messages: dict[int, list[MessageFacts]] = defaultdict(list)
    bots: dict[str, bool] = {}
    for start in range(0, len(ids), _CHUNK):
        found = (
            tables.Conversation.objects.filter(pk__in=ids[start : start + _CHUNK])
            .order_by("pk", "messages__sent_at", "messages__id")
            .values_list(
                "pk",
                "opened_at",
                "closed_at",
                "status",
                "closed_type",
                "assignee_id",
                "assignee__closer_id",
                "metrics__opened_at",
                "messages__author_role",
                "messages__author_closer_id",
                "messages__sent_at",
                by_bot,
            )
        )
        for *row, role, author, sent_at, bot in found:
            rows.setdefault(row[0], tuple(row))
            if role is not None:
                messages[row[0]].append(MessageFacts(role, author, sent_at))
                bots[author] = bot
    return rows, messages, bots


def forget_conversations(
    conversation_ids: Iterable[int], *, tables: Tables = ARCHIVE_TABLES
) -> None:
    """Mark the hours of these conversations pending: call it before the
    rows are deleted (their metrics go with them, by cascade)."""
    ids = list(conversation_ids)
    hours = {
        hour_of(opened)
        for start in range(0, len(ids), _CHUNK)
        for opened in tables.ConversationMetrics.objects.filter(
            conversation_id__in=ids[start : start + _CHUNK]
        ).values_list("opened_at", flat=True)
    }
    mark_pending(hours, tables=tables)


def mark_pending(hours: Iterable[datetime], *, tables: Tables = ARCHIVE_TABLES) -> None:
    tables.InsightsPendingHour.objects.bulk_create(
        [tables.InsightsPendingHour(hour=hour) for hour in sorted(set(hours))], batch_size=_CHUNK
    )


def refresh_rollups(*, full: bool = False, tables: Tables = ARCHIVE_TABLES) -> int:
    """Recompute the roll-ups of the pending hours (of every hour with
    ``full``); return how many hours were recomputed.

    One refresh at a time (an advisory lock on PostgreSQL; SQLite has one
    writer anyway). Only the pending rows read here are deleted: an hour
    marked by a transaction that commits meanwhile stays pending, and its
    change is counted by the next refresh.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ROLLUP_LOCK])
        pending = list(tables.InsightsPendingHour.objects.values_list("pk", "hour"))
        if full:
            tables.InsightsHour.objects.all().delete()
            metrics = tables.ConversationMetrics.objects.all()
            hours = None
        else:
            hours = sorted({hour_of(hour) for _, hour in pending})
            if not hours:
                return 0
            metrics = tables.ConversationMetrics.objects.filter(_in_hours(hours))
            tables.InsightsHour.objects.filter(_in_hours(hours, "hour")).delete()
        rollups = _aggregate(metrics)
        tables.InsightsHour.objects.bulk_create(
            [tables.InsightsHour(**row) for row in rollups], batch_size=_CHUNK
        )
        pending_ids = [pk for pk, _ in pending]
        for start in range(0, len(pending_ids), _CHUNK):
            tables.InsightsPendingHour.objects.filter(
                pk__in=pending_ids[start : start + _CHUNK]
            ).delete()
        return len({row["hour"] for row in rollups}) if hours is None else len(hours)


def _in_hours(hours: list[datetime], field: str = "opened_at") -> Q:
    """WHERE ``field`` falls in one of the (sorted) hours, as a few ranges."""
    condition = Q(pk__in=[])
    for start, end in _runs(hours):
        condition |= Q(**{f"{field}__gte": start, f"{field}__lt": end})
    return condition


def _runs(hours: list[datetime]) -> Iterator[tuple[datetime, datetime]]:
    start = previous = hours[0]
    for hour in hours[1:]:
        if hour != previous + HOUR:
            yield start, previous + HOUR
            start = hour
        previous = hour
    yield start, previous + HOUR


def _aggregate(metrics: models.QuerySet[Any]) -> list[dict[str, Any]]:
    """Sum metrics rows into roll-up rows, by UTC hour and slice (in the
    database: the busiest hour of the bench, 4,800 conversations, took
    over 100 ms summed in Python)."""
    return list(
        metrics.annotate(hour=TruncHour("opened_at", tzinfo=UTC))
        .values("hour", "assignee_id", "handling", "status", "closed_type")
        .annotate(
            conversations=Count("pk"),
            answered=Count("first_response_ms"),
            human_answered=Count("first_human_response_ms"),
            **{name: Sum(name) for name in _ROLLUP_SUMS},
        )
        .order_by("hour")
    )


def rebuild_all(
    *,
    tables: Tables = ARCHIVE_TABLES,
    batch: int = 2000,
    progress: Callable[[int], object] | None = None,
) -> int:
    """Recompute every conversation's metrics, a batch of conversations per
    transaction, then every roll-up; return the number of conversations.
    ``progress`` is called with each batch's size once it is committed."""
    done = 0
    last = 0
    while True:
        ids = list(
            tables.Conversation.objects.filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            break
        with transaction.atomic():
            write_metrics(ids, tables=tables)
        done += len(ids)
        last = ids[-1]
        if progress is not None:
            progress(len(ids))
    # No metrics row outlives its conversation (the foreign key), so there
    # is nothing else to delete.
    refresh_rollups(full=True, tables=tables)
    return done
