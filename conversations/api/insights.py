"""``/api/v1/insights/…``: the Insights page's numbers as JSON.

Same authentication as the rest of the API; reading needs the
``conversations.view_insights`` permission (the page's). Each view
validates the query string with ``InsightsForm`` (400 naming the
parameter) and returns ``queries.report`` for its chart.
"""

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..insights import queries
from ..insights.forms import InsightsForm
from ..insights.metrics import Handling


class CanViewInsights(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm("conversations.view_insights"))


FILTER_PARAMETERS = [
    OpenApiParameter("since", OpenApiTypes.DATE, description="First day (in tz), included."),
    OpenApiParameter("until", OpenApiTypes.DATE, description="Last day (in tz), included."),
    OpenApiParameter("range", str, enum=["all"], description="all: from the first conversation."),
    OpenApiParameter("tz", str, description="IANA time zone of days and hours (default UTC)."),
    OpenApiParameter("period", str, enum=list(queries.PERIODS), description="Default by range."),
    OpenApiParameter("adviser", int, description="Only conversations assigned to this adviser id."),
    OpenApiParameter("handling", str, enum=Handling.values, description="Only this handling."),
]


class InsightsView(APIView):
    """Every chart of the Insights page at once."""

    permission_classes = [CanViewInsights]
    charts: tuple[str, ...] = tuple(queries.CHARTS)

    @extend_schema(parameters=FILTER_PARAMETERS, responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        form = InsightsForm(request.query_params)
        if not form.is_valid():
            raise ValidationError(
                {
                    name: [error["message"] for error in errors]
                    for name, errors in form.errors.get_json_data().items()
                }
            )
        chosen = form.insights_filter()
        return Response(
            {
                "filter": {
                    "since": chosen.since,
                    "until": chosen.until,
                    "tz": str(chosen.zone),
                    "period": chosen.period,
                    "adviser": chosen.adviser_id,
                    "handling": chosen.handling,
                },
                **queries.report(chosen, self.charts),
            }
        )


class VolumeView(InsightsView):
    """Conversations opened per period, by closing type."""

    charts = ("volume",)


class DurationsView(InsightsView):
    """First response, first human response and time to close: median and p90."""

    charts = ("durations",)


class AdvisersView(InsightsView):
    """Per adviser: conversations, messages sent, median first response, solved share."""

    charts = ("advisers",)


class HandlingView(InsightsView):
    """Conversations handled by a bot only, a bot then a human, a human only, or unanswered."""

    charts = ("handling",)


class HeatmapView(InsightsView):
    """Conversations opened by weekday and hour, in ``tz``."""

    charts = ("heatmap",)
