"""Admin for the archive: search and read transcripts; nothing here writes.

The archive is written by the normaliser only (webhooks and backfill), so
every model is view-only here. Search goes through
``selectors.search_conversations``, the same function the REST API calls.
"""

from datetime import datetime
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from admin_speed.changelist import LargeTableAdmin

from . import selectors
from .admin_display import (
    admin_link,
    archive_time,
    attachment,
    author_label,
    conversation_table,
    conversations_url,
    inbound_event_url,
    short_preview,
    side_of,
)
from .admin_filters import (
    AdviserFilter,
    AdviserKindFilter,
    ClosedTypeFilter,
    CustomerFilter,
    HandlingFilter,
    OpenedSlotFilter,
)
from .exports import stream_conversations_ndjson, stream_messages_csv
from .models import Adviser, Conversation, ConversationEvent, Customer


class ArchiveAdmin(LargeTableAdmin):
    """View-only: no add, edit or delete of archive rows."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Customer)
class CustomerAdmin(ArchiveAdmin):
    list_display = ["display_name", "random_name", "email", "phone", "closer_id", "conversations"]
    # Not used by the search itself (see get_search_results); they name the
    # fields searched and turn on the search box and the autocomplete view.
    search_fields = ["first_name", "last_name", "random_name", "email", "phone", "closer_id"]
    search_help_text = "A fragment of a name, alias, email, phone or Closer id."
    readonly_fields = (
        "closer_id",
        "first_name",
        "last_name",
        "random_name",
        "email",
        "phone",
        "api_key",
        "created_at",
        "updated_at",
        "recent_conversations",
    )
    fields = readonly_fields

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Customer], search_term: str
    ) -> tuple[QuerySet[Customer], bool]:
        return selectors.search_customers(query=search_term, queryset=queryset), False

    @admin.display(description="name")
    def display_name(self, customer: Customer) -> str:
        return customer.display_name

    @admin.display(description="conversations")
    def conversations(self, customer: Customer) -> str:
        return format_html(
            '<a href="{}">Conversations</a>', conversations_url(customer=customer.pk)
        )

    @admin.display(description="latest conversations")
    def recent_conversations(self, customer: Customer) -> str:
        latest = selectors.recent_conversations(customer=customer)
        return conversation_table(latest, conversations_url(customer=customer.pk))


@admin.register(Adviser)
class AdviserAdmin(ArchiveAdmin):
    list_display = ["__str__", "email", "is_bot", "closer_id", "conversations"]
    list_filter = ["is_bot"]
    search_fields = ["first_name", "last_name", "email", "closer_id"]
    search_help_text = "A fragment of a name, email or Closer id."
    readonly_fields = (
        "closer_id",
        "first_name",
        "last_name",
        "email",
        "is_bot",
        "created_at",
        "updated_at",
        "recent_conversations",
    )
    fields = readonly_fields

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Adviser], search_term: str
    ) -> tuple[QuerySet[Adviser], bool]:
        return selectors.search_advisers(query=search_term, queryset=queryset), False

    @admin.display(description="conversations")
    def conversations(self, adviser: Adviser) -> str:
        return format_html('<a href="{}">Conversations</a>', conversations_url(adviser=adviser.pk))

    @admin.display(description="latest conversations")
    def recent_conversations(self, adviser: Adviser) -> str:
        latest = selectors.recent_conversations(adviser=adviser)
        return conversation_table(latest, conversations_url(adviser=adviser.pk))


@admin.register(Conversation)
class ConversationAdmin(ArchiveAdmin):
    list_display = [
        "id",
        "customer_name",
        "adviser_name",
        "status",
        "closed_type",
        "opened",
        "closed",
        "message_count",
        "first_message",
    ]
    list_filter = [
        "status",
        ClosedTypeFilter,
        AdviserKindFilter,
        HandlingFilter,
        AdviserFilter,
        CustomerFilter,
        "created_event_missing",
        OpenedSlotFilter,
    ]
    list_select_related = ["customer", "assignee"]
    # What the columns read (customer_name, adviser_name, and __str__ for the
    # checkbox label): a page loads these, not each row's visitor context or
    # its customer's API key and field times. A column reading another field
    # would cost a query per row; test_changelist_queries_do_not_grow_... fails then.
    list_only = [
        "status",
        "closed_type",
        "opened_at",
        "closed_at",
        "message_count",
        "preview",
        "customer__first_name",
        "customer__last_name",
        "customer__random_name",
        "customer__email",
        "customer__closer_id",
        "assignee__first_name",
        "assignee__last_name",
        "assignee__email",
        "assignee__closer_id",
        "assignee__is_bot",
    ]
    date_hierarchy = "opened_at"
    # Documentation and the search box only: search_conversations decides.
    search_fields = ["customer__email", "assignee__email", "messages__text"]
    search_help_text = (
        "Customer name, alias, email, phone or id; adviser name, email or id "
        '(fragments); or words of the transcript ("exact phrase", -without, or).'
    )
    list_per_page = 50
    actions = ["export_ndjson", "export_messages_csv"]
    change_form_template = "admin/conversations/conversation/change_form.html"
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("customer_link", "adviser_link"),
                    ("status", "closed_type"),
                    ("opened_at", "closed_at"),
                    ("message_count", "created_event_missing"),
                    "closer_id",
                ]
            },
        ),
    ]
    readonly_fields = [
        "customer_link",
        "adviser_link",
        "status",
        "closed_type",
        "opened_at",
        "closed_at",
        "message_count",
        "created_event_missing",
        "closer_id",
    ]

    @property
    def media(self) -> forms.Media:
        # The admin's own select2 autocomplete, for the adviser and customer filters.
        extra = "" if settings.DEBUG else ".min"
        return super().media + forms.Media(
            js=[
                f"admin/js/vendor/jquery/jquery{extra}.js",
                f"admin/js/vendor/select2/select2.full{extra}.js",
                "admin/js/jquery.init.js",
                "admin/js/autocomplete.js",
                "conversations/autocomplete_filter.js",
            ],
            css={
                "screen": [
                    f"admin/css/vendor/select2/select2{extra}.css",
                    "admin/css/autocomplete.css",
                    "conversations/admin.css",
                ]
            },
        )

    def date_hierarchy_range(self) -> tuple[datetime | None, datetime | None]:
        # The first and last opening, cached: {% calendar_date_hierarchy %}
        # offers the years between them.
        return selectors.cached_opened_range()

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Conversation], search_term: str
    ) -> tuple[QuerySet[Conversation], bool]:
        # pk IN (...): the search never duplicates rows, so no DISTINCT.
        return selectors.search_conversations(query=search_term, queryset=queryset), False

    @admin.display(description="customer", ordering="customer__last_name")
    def customer_name(self, conversation: Conversation) -> str:
        customer = conversation.customer
        name = customer.display_name
        if customer.random_name and customer.random_name != name:
            return f"{name} ({customer.random_name})"
        return name

    @admin.display(description="adviser", ordering="assignee__last_name")
    def adviser_name(self, conversation: Conversation) -> str:
        adviser = conversation.assignee
        if adviser is None:
            return "-"
        return f"{adviser} (bot)" if adviser.is_bot else str(adviser)

    @admin.display(description="opened at", ordering="opened_at")
    def opened(self, conversation: Conversation) -> str | None:
        return archive_time(conversation.opened_at)

    @admin.display(description="closed at", ordering="closed_at")
    def closed(self, conversation: Conversation) -> str | None:
        return archive_time(conversation.closed_at)

    @admin.display(description="first customer message")
    def first_message(self, conversation: Conversation) -> str:
        return short_preview(conversation.preview)

    @admin.display(description="customer")
    def customer_link(self, conversation: Conversation) -> str:
        return admin_link(conversation.customer)

    @admin.display(description="adviser")
    def adviser_link(self, conversation: Conversation) -> str:
        return admin_link(conversation.assignee)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Conversation | None = None,
    ) -> HttpResponse:
        if obj is not None:
            context.update(self.transcript_context(obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def transcript_context(self, conversation: Conversation) -> dict[str, Any]:
        customer, adviser = conversation.customer, conversation.assignee
        return {
            "transcript": [
                {
                    "side": side_of(message.author_role),
                    "author": author_label(message, customer, adviser),
                    "sent_at": message.sent_at,
                    "text": message.text,
                }
                for message in selectors.transcript(conversation=conversation)
            ],
            "visitor_context": sorted(
                (str(key), value if isinstance(value, str) else repr(value))
                for key, value in conversation.visitor_context.items()
            ),
            "building_events": [
                {"label": event.get_kind_display(), "url": inbound_event_url(event)}
                for event in selectors.building_events(conversation=conversation)
                if event.inbound_event_id is not None
            ],
            "customer_events_url": reverse("admin:webhooks_inboundevent_changelist")
            + "?"
            + urlencode({"customer_closer_id": customer.closer_id}),
        }

    @admin.action(description="Export selected conversations as NDJSON")
    def export_ndjson(
        self, request: HttpRequest, queryset: QuerySet[Conversation]
    ) -> StreamingHttpResponse:
        return attachment(
            stream_conversations_ndjson(queryset), "application/x-ndjson", "conversations.ndjson"
        )

    @admin.action(description="Export messages of selected conversations as CSV")
    def export_messages_csv(
        self, request: HttpRequest, queryset: QuerySet[Conversation]
    ) -> StreamingHttpResponse:
        return attachment(stream_messages_csv(queryset), "text/csv; charset=utf-8", "messages.csv")


@admin.register(ConversationEvent)
class ConversationEventAdmin(ArchiveAdmin):
    list_display = ["customer", "kind", "occurred_ms", "inbound_event", "received_at"]
    list_filter = ["kind"]
    list_select_related = ["customer"]

    @admin.display(description="inbound event")
    def inbound_event(self, event: ConversationEvent) -> str:
        if event.inbound_event_id is None:
            return "-"
        return format_html('<a href="{}">#{}</a>', inbound_event_url(event), event.inbound_event_id)


# The Insights page registers itself on ConversationMetrics.
from . import admin_insights  # noqa: E402, F401
