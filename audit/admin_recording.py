"""Recording the admin's reads: a ModelAdmin mixin and an export-action decorator.

The apps above put these on their admin classes; the record is written
after the page is built and before it is rendered and sent, so a page whose
read cannot be recorded fails instead of showing (see ``services``).
"""

from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any, cast

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from .models import AccessAction
from .services import MAX_CONVERSATION_IDS, record_access, recorded_stream
from .streams import RowCounter


class RecordedReadsAdmin(admin.ModelAdmin):
    """Records every change page (``audit_change_action``) and changelist
    page (``audit_list_action``) shown. With ``audit_objects_are_conversations``
    a change page names its object's id as the conversation read."""

    audit_change_action: AccessAction | None = None
    audit_list_action: AccessAction | None = None
    audit_objects_are_conversations = False

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        context = getattr(response, "context_data", None) or {}
        shown = context.get("original")
        if self.audit_change_action is not None and response.status_code == 200 and shown:
            record_access(
                request=request,
                action=self.audit_change_action,
                conversation_ids=[shown.pk] if self.audit_objects_are_conversations else [],
                row_count=1,
            )
        return response

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None) or {}
        changelist = context.get("cl")
        # An action's own response (an export) has no changelist: the action records itself.
        if self.audit_list_action is not None and response.status_code == 200 and changelist:
            record_access(
                request=request,
                action=self.audit_list_action,
                row_count=len(changelist.result_list),
                with_query=True,
            )
        return response


ExportAction = Callable[[Any, HttpRequest, QuerySet[Any]], StreamingHttpResponse]


def recorded_export(
    action: AccessAction, *, rows: Callable[[], RowCounter]
) -> Callable[[ExportAction], ExportAction]:
    """Record an admin export action: the selected conversations' ids (when a
    handful; else the changelist's query string stands for them) before the
    export starts, and its row count when it ends."""

    def decorate(export: ExportAction) -> ExportAction:
        @wraps(export)
        def recorded(
            model_admin: Any, request: HttpRequest, queryset: QuerySet[Model]
        ) -> StreamingHttpResponse:
            selected = list(queryset.values_list("pk", flat=True)[: MAX_CONVERSATION_IDS + 1])
            record = record_access(
                request=request, action=action, conversation_ids=selected, with_query=True
            )
            response = export(model_admin, request, queryset)
            response.streaming_content = recorded_stream(
                cast(Iterator[bytes], response.streaming_content), record=record, rows=rows()
            )
            return response

        return recorded

    return decorate
