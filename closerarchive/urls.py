from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from closerarchive import health, landing
from closerarchive.metrics import MetricsView
from conversations.admin_transcript import conversation_permalink
from conversations.api import insights as insights_api
from conversations.api import views as archive_api
from webhooks.api import InboundEventViewSet

api_v1 = SimpleRouter()
api_v1.register("conversations", archive_api.ConversationViewSet)
api_v1.register("messages", archive_api.MessageViewSet)
api_v1.register("customers", archive_api.CustomerViewSet)
api_v1.register("advisers", archive_api.AdviserViewSet)
api_v1.register("inbound-events", InboundEventViewSet, basename="inbound-event")
api_v1.register("deletions", archive_api.ConversationDeletionViewSet, basename="deletion")

api_v1_exports: list[URLPattern | URLResolver] = [
    path(
        "export/conversations.ndjson",
        archive_api.ConversationsNdjsonExportView.as_view(),
        name="export-conversations-ndjson",
    ),
    path(
        "export/messages.csv",
        archive_api.MessagesCsvExportView.as_view(),
        name="export-messages-csv",
    ),
    path("insights/", insights_api.InsightsView.as_view(), name="insights"),
    path("insights/volume/", insights_api.VolumeView.as_view(), name="insights-volume"),
    path("insights/durations/", insights_api.DurationsView.as_view(), name="insights-durations"),
    path("insights/advisers/", insights_api.AdvisersView.as_view(), name="insights-advisers"),
    path("insights/handling/", insights_api.HandlingView.as_view(), name="insights-handling"),
    path("insights/heatmap/", insights_api.HeatmapView.as_view(), name="insights-heatmap"),
]

urlpatterns = [
    path("", landing.landing, name="landing"),
    path("admin/", admin.site.urls),
    # A conversation's permalink (staff only): conversations/permalinks.py.
    path("c/<str:token>/", conversation_permalink, name="conversation-permalink"),
    path("metrics", MetricsView.as_view(), name="metrics"),
    path("webhooks/", include("webhooks.urls")),
    path("api/v1/", include((api_v1.urls + api_v1_exports, "api"), namespace="v1")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # No trailing slash: the paths load balancers are given. They resolve as
    # they are, so APPEND_SLASH never redirects them.
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
]
