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
from django.contrib.admin.views.main import SEARCH_VAR, ChangeList
from django.db import connections
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
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
    marked,
    search_match_html,
    short_preview,
    side_of,
)
from .admin_filters import AdviserFilter, AdviserKindFilter, ClosedTypeFilter, CustomerFilter
from .exports import stream_conversations_ndjson, stream_messages_csv
from .models import Adviser, Conversation, ConversationEvent, Customer
from .search_matches import matches_whole_words, search_matches, search_terms
from .search_syntax import highlight


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
        AdviserFilter,
        CustomerFilter,
        "created_event_missing",
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
        "customer__phone",  # search_match names the field that matched
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
    # The list's preview column, replaced by search_match on a search's results.
    preview_column = "first_message"
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

    @property
    def search_help_text(self) -> str:  # type: ignore[override]
        # The transcript syntax reads the same everywhere; what a word
        # matches depends on the database (see search_conversations).
        people = "Customer name, alias, email, phone or id; adviser name, email or id (fragments)"
        if connections[Conversation.objects.db].vendor == "postgresql":
            return (
                f"{people}; or whole words of the transcript, ignoring case and accents "
                '("exact phrase", -without, or).'
            )
        return (
            f"{people}; or fragments of the transcript, ignoring case "
            '("exact phrase", -without, or).'
        )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Conversation], search_term: str
    ) -> tuple[QuerySet[Conversation], bool]:
        # pk IN (...): the search never duplicates rows, so no DISTINCT.
        return selectors.search_conversations(query=search_term, queryset=queryset), False

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        columns = list(super().get_list_display(request))
        if request.GET.get(SEARCH_VAR, "").strip() and self.preview_column in columns:
            columns[columns.index(self.preview_column)] = "search_match"
        return columns

    def get_changelist_instance(self, request: HttpRequest) -> ChangeList:
        changelist = super().get_changelist_instance(request)
        if changelist.query.strip():
            # Why each listed row matched: for this page's rows only, one query.
            rows = list(changelist.result_list)
            matches = search_matches(query=changelist.query, conversations=rows)
            for conversation in rows:
                conversation.search_match = matches.get(conversation.pk)
        return changelist

    @admin.display(description="why it matched")
    def search_match(self, conversation: Conversation) -> str:
        match = getattr(conversation, "search_match", None)
        return search_match_html(match, conversation.preview)

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
            context.update(self.transcript_context(obj, searched=searched_from(request)))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def transcript_context(self, conversation: Conversation, searched: str = "") -> dict[str, Any]:
        customer, adviser = conversation.customer, conversation.assignee
        transcript = [
            {
                "side": side_of(message.author_role),
                "author": author_label(message, customer, adviser),
                "sent_at": message.sent_at,
                "text": message.text,
            }
            for message in selectors.transcript(conversation=conversation)
        ]
        hits = self.mark_hits(transcript, searched, using=conversation._state.db or "default")
        return {
            "transcript": transcript,
            "searched": searched,
            "search_hits": hits,
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

    def mark_hits(self, transcript: list[dict[str, Any]], searched: str, *, using: str) -> int:
        """Mark the searched words in each line (``marked_text``), flag the
        first line holding one (``first_hit``: the page scrolls to it), and
        return how many lines hold one."""
        terms = search_terms(searched)
        if not terms:
            return 0
        whole_words = matches_whole_words(using)
        hits = 0
        for line in transcript:
            pieces = highlight(line["text"], terms, whole_words=whole_words)
            if any(hit for _, hit in pieces):
                line["marked_text"] = marked(pieces)
                line["first_hit"] = hits == 0
                hits += 1
        return hits

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


def searched_from(request: HttpRequest) -> str:
    """The search a conversation page was opened from: the list's ``q``,
    which the admin carries in ``_changelist_filters``, or a ``q`` of its own."""
    carried = QueryDict(request.GET.get("_changelist_filters", ""))
    return selectors.clean_query(request.GET.get(SEARCH_VAR) or carried.get(SEARCH_VAR) or "")
