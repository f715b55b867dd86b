"""Read-only API over the inbound-event inbox, for staff debugging deliveries.

Endpoint secrets never appear (not even hashed), and signature headers are
shown only as present or not.
"""

from typing import Any

from django.db.models import QuerySet
from django_filters import rest_framework as filters
from rest_framework import serializers, viewsets
from rest_framework.permissions import IsAdminUser

from conversations.api.access import ViewModelPermissions
from conversations.api.filters import ArchiveFilterSet, UtcDateTimeRangeFilter

from .models import EventSource, EventStatus, InboundEvent, WebhookEndpoint

# Headers holding a signature of the body. Not secrets, but a signature is a
# credential for that body: staff need to know one arrived, not its value.
SIGNATURE_HEADERS = {"webhook-signature", "x-signature-256", "x-hub-signature-256"}
REDACTED = "[redacted]"


class InboundEventSerializer(serializers.ModelSerializer[InboundEvent]):
    endpoint: serializers.SlugRelatedField[WebhookEndpoint] = serializers.SlugRelatedField(
        slug_field="name", read_only=True, allow_null=True
    )
    customer_id = serializers.CharField(source="customer_closer_id")
    headers = serializers.SerializerMethodField()

    class Meta:
        model = InboundEvent
        fields = [
            "id",
            "endpoint",
            "source",
            "received_at",
            "dedupe_key",
            "event_type",
            "customer_id",
            "status",
            "attempts",
            "last_error",
            "next_attempt_at",
            "processed_at",
            "remote_addr",
            "headers",
        ]

    def get_headers(self, event: InboundEvent) -> dict[str, str]:
        signature_header = event.endpoint.signature_header.lower() if event.endpoint else ""
        return {
            name: REDACTED if name in SIGNATURE_HEADERS or name == signature_header else value
            for name, value in (event.headers or {}).items()
        }


class InboundEventDetailSerializer(InboundEventSerializer):
    body = serializers.SerializerMethodField(help_text="The raw body as text (UTF-8).")

    class Meta(InboundEventSerializer.Meta):
        fields = [*InboundEventSerializer.Meta.fields, "body"]

    def get_body(self, event: InboundEvent) -> str:
        return bytes(event.raw_body).decode("utf-8", errors="replace")


class InboundEventFilter(ArchiveFilterSet):
    status = filters.ChoiceFilter(choices=EventStatus.choices)
    source = filters.ChoiceFilter(choices=EventSource.choices)
    event_type = filters.CharFilter(help_text="`eventType` as sent.")
    customer = filters.CharFilter(
        field_name="customer_closer_id", help_text="The customer's Closer id."
    )
    endpoint = filters.CharFilter(field_name="endpoint__name", help_text="Endpoint name.")
    received = UtcDateTimeRangeFilter(
        field_name="received_at", help_text="Received at or after / at or before (ISO 8601)."
    )

    class Meta:
        model = InboundEvent
        fields: list[str] = []


class InboundEventViewSet(viewsets.ReadOnlyModelViewSet[InboundEvent]):
    """Events as received, newest first (staff with the view permission only)."""

    permission_classes = [IsAdminUser, ViewModelPermissions]
    queryset = InboundEvent.objects.select_related("endpoint")
    filterset_class = InboundEventFilter
    ordering_fields = ["received_at", "id"]
    ordering = ["-id"]

    def get_queryset(self) -> QuerySet[InboundEvent]:
        events = super().get_queryset()
        # A raw body can be a MiB: read it for the detail only.
        return events if self.action == "retrieve" else events.defer("raw_body")

    def get_serializer_class(self) -> Any:
        if self.action == "retrieve":
            return InboundEventDetailSerializer
        return InboundEventSerializer
