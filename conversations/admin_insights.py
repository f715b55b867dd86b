"""The Insights page in the admin: charts, their tables and CSV, and links
from every bar to the conversations behind it.

Registered on ``ConversationMetrics`` (so the admin index lists "Insights"
under Conversations); its changelist is the page. Seeing it takes the
``conversations.view_insights`` permission. The numbers come from
``insights.queries.report``, the same as ``/api/v1/insights/``.
"""

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from admin_speed.view_only import ViewOnly

from .insights import charts, queries
from .insights.fast_html import format_html_join
from .insights.forms import InsightsForm, zone_names
from .insights.metrics import Handling
from .insights.queries import OPEN, InsightsFilter
from .models import Adviser, ConversationMetrics, ConversationStatus

PRESETS = [("Last 7 days", 7), ("Last 30 days", 30), ("Last 90 days", 90), ("Last year", 365)]


def period_end(start: date, period: str) -> date:
    if period == "day":
        return start + timedelta(days=1)
    if period == "week":
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


# The parameters every slice URL carries, in this order.
_FIXED = frozenset({"opened_at__gte", "opened_at__lt", "adviser", "handling"})


class SliceLinks:
    """Changelist URLs of slices of the chosen range, with the changelist's
    own filters (opened range, adviser, handling, status, closed type)."""

    def __init__(self, chosen: InsightsFilter) -> None:
        self.chosen = chosen
        self.base = reverse("admin:conversations_conversation_changelist")
        # A page links ~2,000 slices of a few dozen periods: the range's
        # part of the URL is encoded once per period, not once per link.
        self._ranges: dict[tuple[date | None, date | None], str] = {}

    def url(self, since: date | None = None, until: date | None = None, **extra: Any) -> str:
        if _FIXED.isdisjoint(extra):
            prefix = self._ranges.get((since, until))
            if prefix is None:
                prefix = self._ranges[(since, until)] = self._url(since, until)
            return f"{prefix}&{urlencode(extra)}" if extra else prefix
        return self._url(since, until, **extra)

    def _url(self, since: date | None = None, until: date | None = None, **extra: Any) -> str:
        zone = self.chosen.zone
        start = datetime.combine(since or self.chosen.since, time(), zone).astimezone(UTC)
        end_day = until or self.chosen.until + timedelta(days=1)
        end = datetime.combine(end_day, time(), zone).astimezone(UTC)
        params: dict[str, Any] = {
            "opened_at__gte": start.isoformat(),
            "opened_at__lt": end.isoformat(),
        }
        if self.chosen.adviser_id is not None:
            params["adviser"] = self.chosen.adviser_id
        if self.chosen.handling is not None:
            params["handling"] = self.chosen.handling
        params.update(extra)
        return f"{self.base}?{urlencode(params)}"

    def period(self, start: date, **extra: Any) -> str:
        # The period clipped to the range: a week's bar counts only its days in it.
        since = max(start, self.chosen.since)
        until = min(period_end(start, self.chosen.period), self.chosen.until + timedelta(days=1))
        return self.url(since, until, **extra)

    def closed_type(self, start: date, closed_type: str) -> str:
        if closed_type == OPEN:
            return self.period(start, status=ConversationStatus.OPEN)
        return self.period(start, status=ConversationStatus.CLOSED, closed_type=closed_type)


def build_charts(chosen: InsightsFilter, numbers: dict[str, Any]) -> list[dict[str, Any]]:
    """Every chart: its id, title, SVG, and table (header and rows, also the CSV)."""
    links = SliceLinks(chosen)
    found: list[dict[str, Any]] = []

    volume = numbers["volume"]
    periods = sorted({row["period"] for row in volume})
    series = sorted({row["closed_type"] for row in volume}, key=lambda t: (t == OPEN, t))
    counts = {(row["period"], row["closed_type"]): row["conversations"] for row in volume}
    found.append(
        {
            "id": "volume",
            "title": f"Conversations opened per {chosen.period}, by closing type",
            "legend": [(name, charts.colour(i)) for i, name in enumerate(series)],
            "svg": charts.stacked_bars(
                periods, series, counts, links.closed_type, "Conversations opened"
            ),
            "header": [chosen.period, *series, "total"],
            "rows": [
                [
                    p.isoformat(),
                    *(counts.get((p, s), 0) for s in series),
                    sum(counts.get((p, s), 0) for s in series),
                ]
                for p in periods
            ],
        }
    )

    durations = numbers["durations"]
    for name, title in (
        ("first_response", "First response"),
        ("first_human_response", "First human response"),
        ("time_to_close", "Time to close"),
    ):
        median = [row[f"{name}_seconds_median"] for row in durations]
        p90 = [row[f"{name}_seconds_p90"] for row in durations]
        found.append(
            {
                "id": name.replace("_", "-"),
                "title": f"{title}: median and 90th percentile per {chosen.period}",
                "legend": [("median", charts.colour(0)), ("p90", charts.colour(1))],
                "svg": charts.paired_bars(
                    [row["period"] for row in durations], median, p90, links.period, title
                ),
                "header": [chosen.period, "median (s)", "p90 (s)"],
                "rows": [
                    [row["period"].isoformat(), _seconds(m), _seconds(p)]
                    for row, m, p in zip(durations, median, p90, strict=True)
                ],
            }
        )

    handling = numbers["handling"]
    found.append(
        {
            "id": "handling",
            "title": "Bot share: who answered",
            "legend": [],
            "svg": charts.horizontal_bars(
                [
                    (row["label"], row["conversations"], links.url(handling=row["handling"]))
                    for row in handling
                ],
                "Who answered",
            ),
            "header": ["handled by", "conversations", "share"],
            "rows": [
                [row["label"], row["conversations"], _share(row["share"])] for row in handling
            ],
        }
    )

    cells = {(c["weekday"], c["hour"]): c["conversations"] for c in numbers["heatmap"]}
    found.append(
        {
            "id": "heatmap",
            "title": f"Busiest hours ({chosen.zone}), conversations opened",
            "legend": [],
            "svg": charts.heat_map(
                cells,
                lambda weekday, hour: links.url(opened_slot=f"{weekday}-{hour}-{chosen.zone}"),
                "Conversations by weekday and hour",
            ),
            "header": ["weekday", *(f"{hour:02d}" for hour in range(24))],
            "rows": [
                [charts.WEEKDAYS[w - 1], *(cells.get((w, h), 0) for h in range(24))]
                for w in range(1, 8)
            ],
        }
    )
    return found


def table_body(rows: list[list[Any]]) -> SafeString:
    """A chart table's rows as HTML: a year of days is thousands of cells,
    which the template language renders several times slower."""
    return format_html_join(
        "",
        "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((c,) for c in row)),) for row in rows),
    )


def adviser_rows(chosen: InsightsFilter, advisers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    links = SliceLinks(chosen)
    return [
        {
            **row,
            "url": links.url(adviser=row["adviser_id"])
            if row["adviser_id"]
            else links.url(adviser_kind="none"),
            "median": charts.duration_label(row["median_first_response_seconds"]),
            "solved": _share(row["solved_share"]),
        }
        for row in advisers
    ]


ADVISER_HEADER = [
    "adviser",
    "bot",
    "conversations",
    "messages sent",
    "median first response (s)",
    "solved share",
]


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def csv_response(name: str, header: list[Any], rows: list[list[Any]]) -> HttpResponse:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="insights-{name}.csv"'
    return response


@admin.register(ConversationMetrics)
class InsightsAdmin(ViewOnly, admin.ModelAdmin):
    """The Insights page; the metrics rows themselves are never listed or edited."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("conversations.view_insights")

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = InsightsForm(request.GET)
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": "Insights",
            "opts": self.model._meta,
            "form": form,
            "advisers": Adviser.objects.order_by("is_bot", "first_name", "last_name", "pk"),
            "handlings": Handling.choices,
            "presets": self._presets(request),
        }
        if not form.is_valid():
            context["errors"] = form.errors
            return TemplateResponse(
                request, "admin/conversations/insights.html", context, status=400
            )
        chosen = form.insights_filter()
        numbers = queries.report(chosen)
        found = build_charts(chosen, numbers)
        advisers = adviser_rows(chosen, numbers["advisers"])
        wanted_csv = request.GET.get("csv")
        if wanted_csv == "advisers":
            return csv_response(
                "advisers",
                ADVISER_HEADER,
                [
                    [
                        r["adviser"],
                        r["is_bot"],
                        r["conversations"],
                        r["messages_sent"],
                        _seconds(r["median_first_response_seconds"]),
                        _share(r["solved_share"]),
                    ]
                    for r in advisers
                ],
            )
        for chart in found:
            if chart["id"] == wanted_csv:
                return csv_response(chart["id"], chart["header"], chart["rows"])
            chart["body"] = table_body(chart["rows"])
        context.update(
            {
                "chosen": chosen,
                "totals": numbers["totals"],
                "charts": found,
                "adviser_rows": advisers,
                "adviser_header": ADVISER_HEADER,
                "query": request.GET.urlencode(),
            }
        )
        return TemplateResponse(request, "admin/conversations/insights.html", context)

    def _presets(self, request: HttpRequest) -> list[tuple[str, str]]:
        kept: dict[str, str] = {
            name: request.GET.get(name, "")
            for name in ("tz", "adviser", "handling")
            if request.GET.get(name)
        }
        zone = ZoneInfo(kept["tz"]) if kept.get("tz") in zone_names() else UTC
        today = datetime.now(zone).date()
        presets = [
            (
                label,
                "?" + urlencode({**kept, "since": (today - timedelta(days=days - 1)).isoformat()}),
            )
            for label, days in PRESETS
        ]
        presets.append(("All time", "?" + urlencode({**kept, "range": "all"})))
        return presets
