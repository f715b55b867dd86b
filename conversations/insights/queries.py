"""The reads of the Insights page and ``/api/v1/insights/``.

Counts come from the hourly roll-ups (``InsightsHour``): a year is at most
8,760 hours times a few slices, summed by the database into days, weeks or
months of the chosen time zone. Medians and 90th percentiles cannot be
summed, so they are read from ``ConversationMetrics`` over the range's
conversations (an index range scan on ``opened_at``), with PostgreSQL's
``percentile_cont``; SQLite computes them in Python. No read touches
messages.

Hours are UTC hours: in a time zone whose offset is not a whole number of
hours (India, +05:30), a day is counted from the UTC hour its midnight
falls in.
"""

import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import Aggregate, Case, F, FloatField, IntegerField, QuerySet, Sum, When
from django.db.models.functions import (
    ExtractHour,
    ExtractIsoWeekDay,
    TruncDay,
    TruncMonth,
    TruncWeek,
)

from ..models import Adviser, ConversationMetrics, ConversationStatus, InsightsHour
from .metrics import Handling
from .one_scan import rollup_sums
from .store import refresh_rollups

PERIODS = ("day", "week", "month")
_TRUNC = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}
SOLVED = "solved"
OPEN = "open"  # the closing-type slice of conversations still open
DURATIONS = ("first_response_ms", "first_human_response_ms", "time_to_close_ms")


@dataclass(frozen=True)
class InsightsFilter:
    """A validated range and slice. ``since`` and ``until`` are days in
    ``zone``, both included."""

    since: date
    until: date
    zone: ZoneInfo
    period: str
    adviser_id: int | None = None
    handling: str | None = None

    @property
    def start(self) -> datetime:
        return datetime.combine(self.since, time(), self.zone).astimezone(UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.until + timedelta(days=1), time(), self.zone).astimezone(UTC)

    def rollups(self) -> QuerySet[InsightsHour]:
        rows = InsightsHour.objects.filter(hour__gte=self.start, hour__lt=self.end)
        return rows.filter(**self._slice())

    def metrics(self) -> QuerySet[ConversationMetrics]:
        rows = ConversationMetrics.objects.filter(opened_at__gte=self.start, opened_at__lt=self.end)
        return rows.filter(**self._slice())

    def _slice(self) -> dict[str, Any]:
        chosen: dict[str, Any] = {}
        if self.adviser_id is not None:
            chosen["assignee_id"] = self.adviser_id
        if self.handling is not None:
            chosen["handling"] = self.handling
        return chosen


def default_period(since: date, until: date) -> str:
    """Days up to three months, weeks up to two years, months beyond."""
    days = (until - since).days + 1
    return "day" if days <= 92 else "week" if days <= 731 else "month"


def first_opened_day(zone: ZoneInfo) -> date | None:
    """The day (in ``zone``) the archive's first conversation opened."""
    first = ConversationMetrics.objects.order_by("opened_at").values_list("opened_at", flat=True)
    moment = first.first()
    return moment.astimezone(zone).date() if moment else None


class Percentile(Aggregate):
    """``percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)`` (PostgreSQL)."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: str, fraction: float) -> None:
        super().__init__(expression, fraction=float(fraction))


def _percentiles(
    rows: QuerySet[ConversationMetrics], group: str, columns: tuple[str, ...]
) -> dict[Any, dict[str, float | None]]:
    """Median and p90 of ``columns`` by ``group`` (a field or annotation)."""
    if connection.vendor == "postgresql":
        aggregates: dict[str, Any] = {}
        for column in columns:
            aggregates[f"{column}_median"] = Percentile(column, 0.5)
            aggregates[f"{column}_p90"] = Percentile(column, 0.9)
        return {
            row.pop(group): row for row in rows.values(group).annotate(**aggregates).order_by(group)
        }
    values: dict[Any, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for key, *measured in rows.values_list(group, *columns):
        for column, value in zip(columns, measured, strict=True):
            if value is not None:
                values[key][column].append(value)
    result: dict[Any, dict[str, float | None]] = {}
    for key, by_column in values.items():
        result[key] = {}
        for column in columns:
            found = sorted(by_column[column])
            result[key][f"{column}_median"] = _quantile(found, 0.5)
            result[key][f"{column}_p90"] = _quantile(found, 0.9)
    return result


def _quantile(values: list[int], fraction: float) -> float | None:
    """The continuous quantile ``percentile_cont`` computes (linear interpolation)."""
    if not values:
        return None
    if len(values) == 1:
        return float(values[0])
    return statistics.quantiles(values, n=10 if fraction == 0.9 else 2, method="inclusive")[
        8 if fraction == 0.9 else 0
    ]


def period_slices(chosen: InsightsFilter) -> list[dict[str, Any]]:
    """One query for three charts: roll-up sums by period, status, closing
    type and handling (``volume``, ``handling_share`` and ``totals`` add
    these rows up differently)."""
    trunc = _TRUNC[chosen.period]("hour", tzinfo=chosen.zone)
    return list(
        chosen.rollups()
        .annotate(period=trunc)
        .values("period", "status", "closed_type", "handling")
        .annotate(
            opened=Sum("conversations"),
            answered_sum=Sum("answered"),
            customer_sum=Sum("customer_messages"),
            adviser_sum=Sum("adviser_messages"),
        )
        .order_by("period", "status", "closed_type", "handling")
    )


def volume(
    chosen: InsightsFilter, slices: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Conversations opened per period, by closing type ("open" for those
    still open): ``[{"period": date, "closed_type": str, "conversations": n}]``."""
    counts: dict[tuple[date, str], int] = defaultdict(int)
    for row in period_slices(chosen) if slices is None else slices:
        closed_type = OPEN if row["status"] == ConversationStatus.OPEN else row["closed_type"]
        counts[(_as_date(row["period"], chosen.zone), closed_type)] += row["opened"]
    return [
        {"period": period, "closed_type": closed_type, "conversations": count}
        for (period, closed_type), count in sorted(counts.items())
    ]


def durations(chosen: InsightsFilter) -> list[dict[str, Any]]:
    """Per period: median and p90 (in seconds) of the first response, the
    first human response and the time to close, and how many conversations
    were counted for each (those with a value)."""
    trunc = _TRUNC[chosen.period]("opened_at", tzinfo=chosen.zone)
    rows = chosen.metrics().annotate(period=trunc)
    found = _percentiles(rows, "period", DURATIONS)
    result = []
    for period, values in sorted(found.items()):
        entry: dict[str, Any] = {"period": _as_date(period, chosen.zone)}
        for name, value in values.items():
            entry[name.replace("_ms", "_seconds")] = None if value is None else value / 1000
        result.append(entry)
    return result


def advisers(
    chosen: InsightsFilter, counts: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Per assignee: conversations, messages the assignee sent, the median
    first response (seconds), and the share of their closed conversations
    closed as solved. Bots and humans are told apart by ``is_bot``.
    ``counts``: the roll-up sums per assignee, when already read."""
    counts = _adviser_counts(chosen) if counts is None else counts
    medians = _percentiles(chosen.metrics(), "assignee_id", ("first_response_ms",))
    names = Adviser.objects.in_bulk([row["assignee_id"] for row in counts if row["assignee_id"]])
    result = []
    for row in counts:
        adviser = names.get(row["assignee_id"])
        median = medians.get(row["assignee_id"], {}).get("first_response_ms_median")
        result.append(
            {
                "adviser_id": row["assignee_id"],
                "adviser": str(adviser) if adviser else "No adviser",
                "is_bot": bool(adviser and adviser.is_bot),
                "conversations": row["opened"],
                "messages_sent": row["messages_sent"],
                "median_first_response_seconds": None if median is None else median / 1000,
                "solved_share": row["solved"] / row["closed"] if row["closed"] else None,
            }
        )
    # Humans first, then bots, then the unassigned; the busiest first in each.
    return sorted(
        result,
        key=lambda r: (r["adviser_id"] is None, r["is_bot"], -r["conversations"], r["adviser"]),
    )


def _adviser_counts(chosen: InsightsFilter) -> list[dict[str, Any]]:
    return list(
        chosen.rollups()
        .values("assignee_id")
        .annotate(
            opened=Sum("conversations"),
            messages_sent=Sum("assignee_messages"),
            closed=Sum(
                Case(When(status=ConversationStatus.CLOSED, then=F("conversations")), default=0),
                output_field=IntegerField(),
            ),
            solved=Sum(
                Case(When(closed_type=SOLVED, then=F("conversations")), default=0),
                output_field=IntegerField(),
            ),
        )
    )


def handling_share(
    chosen: InsightsFilter, slices: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Conversations by ``Handling``, with their share of the range."""
    found: dict[str, int] = defaultdict(int)
    for row in period_slices(chosen) if slices is None else slices:
        found[row["handling"]] += row["opened"]
    total = sum(found.values())
    return [
        {
            "handling": value,
            "label": label,
            "conversations": found.get(value, 0),
            "share": found.get(value, 0) / total if total else None,
        }
        for value, label in Handling.choices
    ]


def heatmap(
    chosen: InsightsFilter, cells: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Conversations opened by ISO weekday (1 = Monday) and hour, in the
    chosen time zone: one entry per cell that has any (``cells``, when
    already read)."""
    if cells is not None:
        return cells
    rows = (
        chosen.rollups()
        .annotate(
            weekday=ExtractIsoWeekDay("hour", tzinfo=chosen.zone),
            local_hour=ExtractHour("hour", tzinfo=chosen.zone),
        )
        .values("weekday", "local_hour")
        .annotate(conversations=Sum("conversations"))
        .order_by("weekday", "local_hour")
    )
    return [
        {"weekday": r["weekday"], "hour": r["local_hour"], "conversations": r["conversations"]}
        for r in rows
    ]


def totals(chosen: InsightsFilter, slices: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    rows = period_slices(chosen) if slices is None else slices
    return {
        "conversations": sum(row["opened"] for row in rows),
        "answered": sum(row["answered_sum"] for row in rows),
        "customer_messages": sum(row["customer_sum"] for row in rows),
        "adviser_messages": sum(row["adviser_sum"] for row in rows),
    }


def _as_date(moment: datetime | date, zone: ZoneInfo) -> date:
    if isinstance(moment, datetime):
        return moment.astimezone(zone).date()
    return moment


CHARTS: dict[str, Callable[..., Any]] = {
    "totals": totals,
    "volume": volume,
    "durations": durations,
    "advisers": advisers,
    "handling": handling_share,
    "heatmap": heatmap,
}


_FROM_SLICES = {"totals", "volume", "handling"}
# The part of what report() read that each chart takes (None: it reads its own).
_READ = {
    "totals": "slices",
    "volume": "slices",
    "handling": "slices",
    "heatmap": "heatmap",
    "advisers": "advisers",
}


def report(chosen: InsightsFilter, charts: tuple[str, ...] = tuple(CHARTS)) -> dict[str, Any]:
    """The named charts' numbers, after the roll-ups of pending hours are
    brought up to date (``store.refresh_rollups``)."""
    refresh_rollups()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # The planner cannot estimate the groups of the period expressions
            # (50,718 guessed for the 784 of all time on the 1 M bench archive),
            # so it prices the roll-up sums' hash tables above the default 4 MB
            # and sorts instead, spilling to disk, as the percentiles' sorts of
            # a range's every row do: the all-time sums took 112 ms against 56
            # hashed in about 2 MB, the page 205 ms against 146 (medians,
            # interleaved). A cap, not an allocation.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL work_mem = '32MB'")
        read: dict[str, Any] = {}
        if connection.vendor == "postgresql" and set(_READ).intersection(charts):
            read = rollup_sums(chosen, solved=SOLVED)
        elif _FROM_SLICES.intersection(charts):
            read = {"slices": period_slices(chosen)}
        return {
            name: CHARTS[name](chosen, read.get(_READ[name]))
            if name in _READ
            else CHARTS[name](chosen)
            for name in charts
        }
