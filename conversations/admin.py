"""Admin for the archive: search and read transcripts; nothing here writes.

The archive is written by the normaliser only (webhooks and backfill), so
every model is view-only here. Search goes through
``selectors.search_conversations``, the same function the REST API calls.
"""

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.main import SEARCH_VAR, ChangeList
from django.db import connections
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.utils.html import format_html

from admin_speed.changelist import LargeTableAdmin
from admin_speed.paginators import LargeTablePaginator
from admin_speed.view_only import ViewOnly
from audit.admin_recording import RecordedReadsAdmin, recorded_export
from audit.models import AccessAction
from audit.streams import CsvRecords, NdjsonLines

from . import selectors, timeformat
from .admin_display import (
    admin_link,
    archive_time,
    attachment,
    conversation_table,
    conversations_url,
    inbound_event_url,
    person_cell,
    search_match_html,
    short_preview,
)
from .admin_filters import (
    AdviserFilter,
    AdviserKindFilter,
    ClosedTypeFilter,
    CreatedEventFilter,
    CustomerFilter,
    HandlingFilter,
    OpenedSlotFilter,
)
from .admin_transcript import TranscriptPageAdmin
from .exports import stream_conversations_ndjson, stream_messages_csv
from .models import Adviser, Conversation, ConversationEvent, Customer
from .search_matches import search_matches


class ArchiveAdmin(ViewOnly, LargeTableAdmin):
    """View-only: no add, edit or delete of archive rows."""


@admin.register(Customer)
class CustomerAdmin(RecordedReadsAdmin, ArchiveAdmin):
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
    # The page lists the customer's latest conversations with their previews.
    audit_change_action = AccessAction.ADMIN_CONVERSATION_LIST

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
class AdviserAdmin(RecordedReadsAdmin, ArchiveAdmin):
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
    # The page lists the adviser's latest conversations with their previews.
    audit_change_action = AccessAction.ADMIN_CONVERSATION_LIST

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


class ConversationPaginator(LargeTablePaginator):
    # A search's or filter's first ids newest first, in widening date windows
    # (admin_speed.date_windows): a common word costs no more than a rare one.
    window_field = "opened_at"


@admin.register(Conversation)
class ConversationAdmin(TranscriptPageAdmin, RecordedReadsAdmin, ArchiveAdmin):
    paginator = ConversationPaginator
    # The columns that fit a 1280 px screen beside the filters (the closing
    # time, closed type and the rest are on the conversation's page); the
    # preview is the one column that takes the width left (admin.css).
    list_display = [
        "customer_name",
        "adviser_name",
        "opened",
        "status_label",
        "message_total",
        "first_message",
    ]
    list_filter = [
        "status",
        ClosedTypeFilter,
        AdviserKindFilter,
        HandlingFilter,
        AdviserFilter,
        CustomerFilter,
        ("created_event_missing", CreatedEventFilter),
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
    actions = ["export_ndjson", "export_messages_csv", "export_messages_csv_for_excel"]
    # Who read what (audit): each transcript page, and each list of previews.
    audit_change_action = AccessAction.ADMIN_CONVERSATION_VIEWED
    audit_list_action = AccessAction.ADMIN_CONVERSATION_LIST
    audit_objects_are_conversations = True
    change_form_template = "admin/conversations/conversation/change_form.html"
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("customer_link", "adviser_link"),
                    ("status", "closed_type"),
                    ("opened_at", "closed_at"),
                    ("message_count", "created_event"),
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
        "created_event",
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

    def date_hierarchy_years(self) -> list[int]:
        # The years with conversations, cached: {% calendar_date_hierarchy %} offers them.
        return selectors.cached_opened_years()

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
            return person_cell(f"{name} ({customer.random_name})")
        return person_cell(name)

    @admin.display(description="adviser", ordering="assignee__last_name")
    def adviser_name(self, conversation: Conversation) -> str:
        adviser = conversation.assignee
        if adviser is None:
            return "-"
        return person_cell(f"{adviser} (bot)" if adviser.is_bot else str(adviser))

    @admin.display(description="opened at", ordering="opened_at")
    def opened(self, conversation: Conversation) -> str | None:
        return archive_time(conversation.opened_at)

    @admin.display(description="status", ordering="status")
    def status_label(self, conversation: Conversation) -> str:
        # "Closed (solved)": the closed type beside the status, one column for both.
        status = conversation.get_status_display()
        return f"{status} ({conversation.closed_type})" if conversation.closed_type else status

    @admin.display(description="messages", ordering="message_count")
    def message_total(self, conversation: Conversation) -> int:
        return conversation.message_count

    @admin.display(description="first customer message")
    def first_message(self, conversation: Conversation) -> str:
        return short_preview(conversation.preview)

    @admin.display(description="created event")
    def created_event(self, conversation: Conversation) -> str:
        # Words, not the boolean's icons: a red ✗ read as "missing" when the
        # event was there ("created event missing: no").
        if conversation.created_event_missing or conversation.created_event_ms is None:
            return "Missing: never received; the conversation is dated by its first message"
        return f"Received, {timeformat.epoch_ms(conversation.created_event_ms)}"

    @admin.display(description="customer")
    def customer_link(self, conversation: Conversation) -> str:
        return admin_link(conversation.customer)

    @admin.display(description="adviser")
    def adviser_link(self, conversation: Conversation) -> str:
        return admin_link(conversation.assignee)

    @admin.action(description="Export selected conversations as NDJSON")
    @recorded_export(AccessAction.ADMIN_EXPORT_NDJSON, rows=NdjsonLines)
    def export_ndjson(
        self, request: HttpRequest, queryset: QuerySet[Conversation]
    ) -> StreamingHttpResponse:
        return attachment(
            stream_conversations_ndjson(queryset), "application/x-ndjson", "conversations.ndjson"
        )

    @admin.action(description="Export messages of selected conversations as CSV")
    @recorded_export(AccessAction.ADMIN_EXPORT_CSV, rows=CsvRecords)
    def export_messages_csv(
        self, request: HttpRequest, queryset: QuerySet[Conversation]
    ) -> StreamingHttpResponse:
        return self._messages_csv(request, queryset, bom=False)

    # Excel reads a CSV as UTF-8 only after a byte order mark, and other
    # programs show the mark as a stray character: a choice per download.
    @admin.action(description="Export messages of selected conversations as CSV for Excel")
    @recorded_export(AccessAction.ADMIN_EXPORT_CSV, rows=CsvRecords)
    def export_messages_csv_for_excel(
        self, request: HttpRequest, queryset: QuerySet[Conversation]
    ) -> StreamingHttpResponse:
        return self._messages_csv(request, queryset, bom=True)

    def _messages_csv(
        self, request: HttpRequest, queryset: QuerySet[Conversation], *, bom: bool
    ) -> StreamingHttpResponse:
        return attachment(
            stream_messages_csv(queryset, bom=bom), "text/csv; charset=utf-8", "messages.csv"
        )


@admin.register(ConversationEvent)
class ConversationEventAdmin(ArchiveAdmin):
    list_display = ["customer", "kind", "occurred", "inbound_event", "received_at"]
    list_filter = ["kind"]
    list_select_related = ["customer"]
    readonly_fields = (
        "customer",
        "kind",
        "occurred",
        "conversation_ref",
        "closed_type",
        "assignee",
        "first_message",
        "visitor_context",
        "inbound_event",
        "received_at",
    )
    fields = readonly_fields

    @admin.display(description="occurred at", ordering="occurred_ms")
    def occurred(self, event: ConversationEvent) -> str:
        # The event's own timestamp (epoch ms, the key of the walk) as a time;
        # the number itself is the inbound event's body.
        return timeformat.epoch_ms(event.occurred_ms)

    @admin.display(description="first message at")
    def first_message(self, event: ConversationEvent) -> str:
        ms = event.first_message_ms
        return "-" if ms is None else timeformat.epoch_ms(ms)

    @admin.display(description="inbound event")
    def inbound_event(self, event: ConversationEvent) -> str:
        if event.inbound_event_id is None:
            return "-"
        return format_html('<a href="{}">#{}</a>', inbound_event_url(event), event.inbound_event_id)


# The Insights page registers itself on ConversationMetrics.
from . import admin_insights  # noqa: E402, F401
