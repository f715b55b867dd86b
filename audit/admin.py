"""The access log in the admin: read-only, for holders of ``audit.read_access_log``.

Nobody adds, changes or deletes a record here, superusers included: the log
is append-only for staff. Records leave only by ``prune_access_records``.
"""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from admin_speed.changelist import LargeTableAdmin
from admin_speed.view_only import ViewOnly

from .models import AccessedConversation, AccessRecord

READ_PERMISSION = "audit.read_access_log"


class AccessedConversationInline(ViewOnly, admin.TabularInline):
    model = AccessedConversation
    fields = ["conversation_id"]
    readonly_fields = ["conversation_id"]
    extra = 0
    can_delete = False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(READ_PERMISSION)


@admin.register(AccessRecord)
class AccessRecordAdmin(ViewOnly, LargeTableAdmin):
    list_display = [
        "at",
        "username",
        "action",
        "conversation_ids",
        "row_count",
        "client_ip",
        "path",
    ]
    # The log grows with every read: filters that read no rows of it (the
    # users' table, fixed date ranges), no date hierarchy (a scan per page)
    # and, as LargeTableAdmin, never a COUNT(*) of the whole log.
    list_filter = ["action", "user", "at"]
    # The search itself is get_search_results'; this turns the box on.
    search_fields = ["conversations__conversation_id"]
    search_help_text = "A conversation id: who read it."
    readonly_fields = (
        "at",
        "user",
        "username",
        "action",
        "path",
        "query",
        "row_count",
        "completed",
        "client_ip",
    )
    fields = readonly_fields
    inlines = [AccessedConversationInline]
    list_per_page = 100

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(READ_PERMISSION)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(READ_PERMISSION)

    def get_queryset(self, request: HttpRequest) -> QuerySet[AccessRecord]:
        return super().get_queryset(request).prefetch_related("conversations")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[AccessRecord], search_term: str
    ) -> tuple[QuerySet[AccessRecord], bool]:
        # Exact ids only, served by accessed_conversation_idx; anything else
        # matches nothing. One id per record at most: no DISTINCT.
        term = search_term.strip().lstrip("#")
        if not term:
            return queryset, False
        if not term.isdigit() or len(term) > 18:
            return queryset.none(), False
        return queryset.filter(conversations__conversation_id=int(term)), False

    @admin.display(description="conversations")
    def conversation_ids(self, record: AccessRecord) -> str:
        ids = [str(row.conversation_id) for row in record.conversations.all()]
        return ", ".join(ids) or "-"
