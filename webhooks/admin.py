"""Admin of the way in: endpoints and their credentials, the inbound-event inbox."""

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html
from django.utils.http import urlencode

from admin_speed.changelist import LargeTableAdmin
from admin_speed.view_only import ViewOnly
from audit.admin_recording import RecordedReadsAdmin
from audit.models import AccessAction
from conversations import services as archive

from . import endpoints, outbox
from .models import EventStatus, InboundEvent, WebhookEndpoint


class WebhookEndpointForm(forms.ModelForm):
    require_hmac = forms.BooleanField(
        required=False, help_text="Require an HMAC-SHA256 signature of the body."
    )
    require_standard_webhooks = forms.BooleanField(
        required=False, help_text="Require Standard Webhooks signatures."
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "name",
            "is_active",
            "allowed_api_keys",
            "signature_header",
            "inbound_body_retention_days",
        ]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """Create, deactivate and rotate. Secrets are write-only: shown once on
    the page that made them, never listed, never logged."""

    form = WebhookEndpointForm
    list_display = ["name", "token_hint", "is_active", "signing", "rejected_requests", "created_at"]
    list_filter = ["is_active"]
    readonly_fields = [
        "token_hint",
        "signing",
        "rejected_requests",
        "last_rejected_at",
        "created_at",
    ]
    actions = ["deactivate", "activate", "rotate_token", "rotate_secrets", "drop_previous_secrets"]

    def get_fields(self, request: HttpRequest, obj: WebhookEndpoint | None = None) -> Any:
        editable = WebhookEndpointForm.Meta.fields
        if obj is None:
            return [*editable, "require_hmac", "require_standard_webhooks"]
        return [*editable, *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return list(self.readonly_fields) if obj is not None else []

    @admin.display(description="signing")
    def signing(self, endpoint: WebhookEndpoint) -> str:
        schemes = []
        if endpoint.hmac_secrets:
            schemes.append(f"HMAC ({len(endpoint.hmac_secrets)} secret(s))")
        if endpoint.standard_webhooks_secrets:
            count = len(endpoint.standard_webhooks_secrets)
            schemes.append(f"Standard Webhooks ({count} secret(s))")
        return ", ".join(schemes) or "URL token only"

    def save_model(
        self, request: HttpRequest, obj: WebhookEndpoint, form: Any, change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        issued = endpoints.set_up_endpoint(
            endpoint=obj,
            hmac=form.cleaned_data["require_hmac"],
            standard_webhooks=form.cleaned_data["require_standard_webhooks"],
        )
        # Kept on this request only, for response_add to show once.
        request._issued_credentials = [issued]  # type: ignore[attr-defined]

    def response_add(
        self, request: HttpRequest, obj: WebhookEndpoint, post_url_continue: str | None = None
    ) -> HttpResponse:
        issued = getattr(request, "_issued_credentials", None)
        if issued is None:
            return super().response_add(request, obj, post_url_continue)
        return self.credentials_page(request, issued, "Endpoint created")

    def credentials_page(self, request: HttpRequest, issued: list[Any], title: str) -> HttpResponse:
        response = TemplateResponse(
            request,
            "admin/webhooks/webhookendpoint/credentials_once.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": title,
                # URLs on the address this admin is reached at, unless
                # PUBLIC_BASE_URL says where Closer must send them.
                "credentials": [
                    credentials.seen_at(request.build_absolute_uri("/")) for credentials in issued
                ],
            },
        )
        add_never_cache_headers(response)
        return response

    @admin.action(description="Deactivate selected endpoints (they answer 403)")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        updated = queryset.update(is_active=False)
        self.message_user(request, f"{updated} endpoint(s) deactivated.")

    @admin.action(description="Activate selected endpoints")
    def activate(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        updated = queryset.update(is_active=True)
        self.message_user(request, f"{updated} endpoint(s) activated.")

    @admin.action(description="Rotate URL token (the old URL stops working now)")
    def rotate_token(
        self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]
    ) -> HttpResponse:
        issued = [endpoints.rotate_token(endpoint=endpoint) for endpoint in queryset]
        for credentials in issued:
            self.log_change(request, credentials.endpoint, "Rotated the URL token.")
        return self.credentials_page(request, issued, "New URL tokens")

    @admin.action(description="Rotate signing secrets (the previous one stays valid)")
    def rotate_secrets(
        self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]
    ) -> HttpResponse | None:
        signed = queryset.exclude(hmac_secrets=[], standard_webhooks_secrets=[])
        issued = [endpoints.rotate_secrets(endpoint=endpoint) for endpoint in signed]
        if not issued:
            self.message_user(
                request, "None of these endpoints uses signing secrets.", messages.WARNING
            )
            return None
        for credentials in issued:
            self.log_change(request, credentials.endpoint, "Rotated the signing secrets.")
        return self.credentials_page(request, issued, "New signing secrets")

    @admin.action(description="Finish rotation: drop previous signing secrets")
    def drop_previous_secrets(
        self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]
    ) -> None:
        for endpoint in queryset:
            endpoints.drop_previous_secrets(endpoint=endpoint)
            self.log_change(request, endpoint, "Dropped previous signing secrets.")
        self.message_user(request, f"{len(queryset)} endpoint(s): only the newest secrets remain.")


class EventTypeFilter(admin.SimpleListFilter):
    """The archived types (Closer's names and their documented aliases), and
    the rest: no DISTINCT over the whole inbox."""

    title = "event type"
    parameter_name = "type"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [*((name, name) for name in archive.KNOWN_EVENT_TYPES), ("other", "Other / none")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value == "other":
            return queryset.exclude(event_type__in=archive.KNOWN_EVENT_TYPES)
        return queryset.filter(event_type=value) if value else queryset


@admin.register(InboundEvent)
class InboundEventAdmin(ViewOnly, RecordedReadsAdmin, LargeTableAdmin):
    """The inbox as received; read-only except for re-processing (no delete:
    an event's row holds its dedupe key, and deleting it would let a late
    retry of the same delivery in again). An event's page shows its raw
    body, transcript included: each view is recorded."""

    list_display = [
        "id",
        "event_type",
        "status",
        "source",
        "endpoint",
        "customer_closer_id",
        "received_at",
        "attempts",
    ]
    list_filter = ["status", EventTypeFilter, "endpoint", "source"]
    list_select_related = ["endpoint"]
    search_fields = ["=id", "=customer_closer_id"]
    search_help_text = "An event id or a Closer customer id (exact)."
    actions = ["reprocess"]
    audit_change_action = AccessAction.INBOUND_EVENT_VIEWED
    readonly_fields = (
        "event_type",
        "status",
        "source",
        "endpoint",
        "customer",
        "received_at",
        "processed_at",
        "body_pruned_at",
        "attempts",
        "next_attempt_at",
        "error",
        "pretty_body",
        "pretty_headers",
        "remote_addr",
        "dedupe_key",
    )
    fields = readonly_fields

    def has_reprocess_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("webhooks.change_inboundevent")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[InboundEvent], search_term: str
    ) -> tuple[QuerySet[InboundEvent], bool]:
        # Exact matches only, each served by an index (pk, inbound_customer_idx).
        term = search_term.strip()
        if not term:
            return queryset, False
        matches = Q(customer_closer_id=term)
        if term.isdigit():
            matches |= Q(pk=int(term))
        return queryset.filter(matches), False

    @admin.display(description="body")
    def pretty_body(self, event: InboundEvent) -> str:
        return format_html('<pre class="inbound-body">{}</pre>', pretty_json(bytes(event.raw_body)))

    @admin.display(description="headers")
    def pretty_headers(self, event: InboundEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(event.headers, indent=2, sort_keys=True))

    @admin.display(description="error")
    def error(self, event: InboundEvent) -> str:
        return format_html("<pre>{}</pre>", event.last_error) if event.last_error else "-"

    @admin.display(description="customer")
    def customer(self, event: InboundEvent) -> str:
        if not event.customer_closer_id:
            return "-"
        url = reverse("admin:conversations_customer_changelist")
        query = urlencode({"q": event.customer_closer_id})
        return format_html('<a href="{}?{}">{}</a>', url, query, event.customer_closer_id)

    @admin.action(
        description="Re-process selected failed, dead or rejected events",
        permissions=["reprocess"],
    )
    def reprocess(self, request: HttpRequest, queryset: QuerySet[InboundEvent]) -> None:
        retryable = [EventStatus.FAILED, EventStatus.DEAD, EventStatus.REJECTED]
        event_ids = list(queryset.filter(status__in=retryable).values_list("pk", flat=True))
        requeued = outbox.requeue(event_ids=event_ids)
        skipped = queryset.count() - requeued
        self.message_user(request, f"{requeued} event(s) queued for processing.")
        if skipped:
            self.message_user(
                request,
                f"{skipped} event(s) skipped: only failed, dead or rejected ones are re-processed.",
                messages.WARNING,
            )


def pretty_json(body: bytes) -> str:
    """Indented JSON when the body parses; otherwise the text as received."""
    text = body.decode("utf-8", errors="replace")
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text
