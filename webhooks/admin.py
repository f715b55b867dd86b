from django.contrib import admin

from .models import InboundEvent, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["name", "token_hint", "is_active", "rejected_requests", "created_at"]
    # Secrets are write-only: never listed, never shown back.
    exclude = ["hmac_secrets", "standard_webhooks_secrets"]
    readonly_fields = ["token_hint", "rejected_requests", "last_rejected_at", "created_at"]


@admin.register(InboundEvent)
class InboundEventAdmin(admin.ModelAdmin):
    list_display = ["id", "event_type", "status", "source", "endpoint", "received_at", "attempts"]
    list_filter = ["status", "event_type", "source", "endpoint"]
    search_fields = ["customer_closer_id", "dedupe_key"]
    exclude = ["raw_body"]
    readonly_fields = [f.name for f in InboundEvent._meta.fields if f.name != "raw_body"]
