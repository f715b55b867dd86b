"""Admin for the archive: search and read transcripts; nothing here writes.

The archive is written by the normaliser only (webhooks and backfill), so
every model is view-only here. Search goes through
``selectors.search_conversations``, the same function the REST API calls.
"""

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import SEARCH_VAR, ChangeList
from django.core.exceptions import PermissionDenied
from django.db import connections
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.http import content_disposition_header, urlencode

from admin_speed.changelist import LargeTableAdmin
from admin_speed.paginators import LargeTablePaginator
from admin_speed.view_only import ViewOnly
from audit.admin_recording import RecordedReadsAdmin, recorded_export
from audit.models import AccessAction
from audit.services import record_access
from audit.streams import CsvRecords, NdjsonLines

from . import permalinks, selectors, timeformat
from .admin_display import (
    admin_link,
    archive_time,
    attachment,
    conversation_table,
    conversations_url,
    event_label,
    inbound_event_url,
    marked,
    person_cell,
    search_match_html,
    short_preview,
    transcript_lines,
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
from .exports import stream_conversations_ndjson, stream_messages_csv
from .models import Adviser, Conversation, ConversationEvent, Customer, DeletionReason
from .search_matches import matches_whole_words, search_matches, search_terms
from .search_syntax import highlight
from .transcript_files import TranscriptFile


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
class ConversationAdmin(RecordedReadsAdmin, ArchiveAdmin):
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
            context.update(self.transcript_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def transcript_context(
        self, request: HttpRequest, conversation: Conversation
    ) -> dict[str, Any]:
        customer = conversation.customer
        transcript = transcript_lines(conversation)
        searched = searched_from(request)
        hits = self.mark_hits(transcript, searched, using=conversation._state.db or "default")
        return {
            "transcript": transcript,
            "searched": searched,
            "search_hits": hits,
            "download_text_url": self.download_url(conversation, "text"),
            "download_html_url": self.download_url(conversation, "html"),
            "permalink_url": request.build_absolute_uri(permalink_path(conversation)),
            "visitor_context": sorted(
                (str(key), value if isinstance(value, str) else repr(value))
                for key, value in conversation.visitor_context.items()
            ),
            "building_events": [
                {"label": event_label(event), "url": inbound_event_url(event)}
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

    # --- Downloads and the permalink ------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(
                "<path:object_id>/transcript.txt",
                self.admin_site.admin_view(self.transcript_text_view),
                name=f"{prefix}_transcript_text",
            ),
            path(
                "<path:object_id>/transcript.html",
                self.admin_site.admin_view(self.transcript_html_view),
                name=f"{prefix}_transcript_html",
            ),
            *super().get_urls(),
        ]

    def download_url(self, conversation: Conversation, kind: str) -> str:
        name = f"admin:{self.opts.app_label}_{self.opts.model_name}_transcript_{kind}"
        return reverse(name, args=[conversation.pk])

    def transcript_file(self, request: HttpRequest, object_id: str) -> TranscriptFile:
        conversation = self.get_object(request, unquote(object_id))
        if conversation is None:
            raise Http404("No conversation has this id.")
        if not self.has_view_permission(request, conversation):
            raise PermissionDenied
        record_access(
            request=request,
            action=AccessAction.ADMIN_TRANSCRIPT_DOWNLOADED,
            conversation_ids=[conversation.pk],
            row_count=1,
        )
        permalink = request.build_absolute_uri(permalink_path(conversation))
        return TranscriptFile(conversation, transcript_lines(conversation), permalink)

    def transcript_text_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        transcript = self.transcript_file(request, object_id)
        return download(transcript.as_text(), "text/plain", transcript.filename("txt"))

    def transcript_html_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        transcript = self.transcript_file(request, object_id)
        return download(transcript.as_html(), "text/html", transcript.filename("html"))

    def permalink_view(self, request: HttpRequest, token: str) -> HttpResponse:
        """``/c/<token>/``: the conversation now holding the link's key, or a
        page saying why none does (see conversations.permalinks)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        key = permalinks.decode(token)
        if key is None:
            return self.permalink_missing(request, "This is not a link to a conversation.")
        found = selectors.conversation_holding(
            kind=key.kind, customer_closer_id=key.customer, value=key.value
        )
        if found is None:
            return self.permalink_missing(request, why_gone(key))
        if key.made_for is not None and key.made_for != found.pk:
            # Re-paired: the key now belongs to another row (a merge, or an
            # open conversation that got its closed event with another row).
            messages.info(
                request,
                f"This link was made for conversation {key.made_for}, which has since "
                f"been re-paired: this is the conversation that now holds its event.",
            )
        return redirect(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", found.pk)

    def permalink_missing(self, request: HttpRequest, reason: str) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Conversation not found",
            "reason": reason,
        }
        return TemplateResponse(
            request, "admin/conversations/conversation/permalink_missing.html", context, status=404
        )

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


def why_gone(key: permalinks.PermalinkKey) -> str:
    reasons: dict[str, str] = {
        DeletionReason.MERGED: "It was merged into another conversation of the same customer.",
        DeletionReason.ERASED: "Its customer was erased from the archive.",
        DeletionReason.RETENTION: "It was deleted when its retention period ended.",
    }
    deletion = (
        selectors.deletion_of(conversation_id=key.made_for) if key.made_for is not None else None
    )
    if deletion is not None:
        reason = reasons.get(deletion.reason, deletion.get_reason_display())
        when = timeformat.minute(deletion.deleted_at)
        return f"Conversation {key.made_for} is no longer in the archive. {reason} ({when})"
    return "No conversation in the archive holds the event this link names."


def permalink_path(conversation: Conversation) -> str:
    token = permalinks.encode(permalinks.permalink_key(conversation))
    return reverse("conversation-permalink", args=[token])


def download(content: str, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, filename) or ""
    return response


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


@admin.site.admin_view
def conversation_permalink(request: HttpRequest, token: str) -> HttpResponse:
    """``/c/<token>/`` (closerarchive/urls.py): staff only, as the admin's pages are."""
    conversation_admin = admin.site.get_model_admin(Conversation)
    return conversation_admin.permalink_view(request, token)  # type: ignore[attr-defined]


def searched_from(request: HttpRequest) -> str:
    """The search a conversation page was opened from: the list's ``q``,
    which the admin carries in ``_changelist_filters``, or a ``q`` of its own."""
    carried = QueryDict(request.GET.get("_changelist_filters", ""))
    return selectors.clean_query(request.GET.get(SEARCH_VAR) or carried.get(SEARCH_VAR) or "")


# The Insights page registers itself on ConversationMetrics.
from . import admin_insights  # noqa: E402, F401
