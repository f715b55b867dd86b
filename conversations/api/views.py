"""Read-only viewsets over the archive, and the two streaming exports."""

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, mixins, viewsets
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.serializers import BaseSerializer

from audit.api_recording import RecordedApiExport, RecordedApiReads
from audit.models import AccessAction
from audit.streams import CsvRecords, NdjsonLines

from ..exports import stream_conversations_ndjson, stream_messages_csv
from ..models import Adviser, Conversation, ConversationDeletion, Customer, Message
from . import filters, serializers
from .access import ViewConversationPermission

# Closer ids are opaque strings (UUIDs in practice), never with control
# characters: PostgreSQL cannot even compare a text holding NUL, so such a
# path is a 404 at the URL, not a database error.
_CLOSER_ID = r"[^/\x00-\x1f\x7f]+"


class ConversationViewSet(RecordedApiReads, viewsets.ReadOnlyModelViewSet[Conversation]):
    """Conversations, newest first; the detail carries the whole transcript.
    Both are recorded in the access log (the list shows each one's preview)."""

    queryset = Conversation.objects.select_related("customer", "assignee")
    filterset_class = filters.ConversationFilter
    ordering_fields = ["opened_at", "updated_at", "id"]
    ordering = ["-opened_at"]

    def get_queryset(self) -> QuerySet[Conversation]:
        conversations = super().get_queryset()
        if self.action == "retrieve":
            transcript = Message.objects.order_by("sent_at", "id")
            conversations = conversations.prefetch_related(Prefetch("messages", transcript))
        return conversations

    def get_serializer_class(self) -> type[BaseSerializer[Conversation]]:
        if self.action == "retrieve":
            return serializers.ConversationDetailSerializer
        return serializers.ConversationSerializer


class MessageViewSet(RecordedApiReads, viewsets.ReadOnlyModelViewSet[Message]):
    """Messages one by one, in the order they were stored. (A transcript in
    time order is the conversation's detail.) Reads are recorded in the access log."""

    audit_conversation_key = "conversation"

    queryset = Message.objects.all()
    serializer_class = serializers.MessageSerializer
    filterset_class = filters.MessageFilter
    # Storage order by default, a range of the primary key (but a sent range
    # late in the archive walks it past every older message: docs/api.md);
    # time order from message_sent_idx (sent_at, id), a range however deep.
    ordering_fields = ["id", "sent_at"]
    ordering = ["id"]


class CustomerViewSet(viewsets.ReadOnlyModelViewSet[Customer]):
    """Customers, looked up by their Closer id."""

    queryset = Customer.objects.all()
    serializer_class = serializers.CustomerSerializer
    filterset_class = filters.CustomerFilter
    lookup_field = "closer_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = _CLOSER_ID
    ordering_fields = ["updated_at", "id"]
    ordering = ["id"]


class AdviserViewSet(viewsets.ReadOnlyModelViewSet[Adviser]):
    """Advisers (agents and bots), looked up by their Closer id."""

    queryset = Adviser.objects.all()
    serializer_class = serializers.AdviserSerializer
    filterset_class = filters.AdviserFilter
    lookup_field = "closer_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = _CLOSER_ID
    ordering_fields = ["updated_at", "id"]
    ordering = ["id"]


class ConversationDeletionViewSet(
    mixins.ListModelMixin, viewsets.GenericViewSet[ConversationDeletion]
):
    """Conversations deleted from the archive (erased, past retention, or
    merged into another), oldest first: a synced copy deletes them too."""

    queryset = ConversationDeletion.objects.all()
    serializer_class = serializers.ConversationDeletionSerializer
    filterset_class = filters.ConversationDeletionFilter
    permission_classes = [ViewConversationPermission]
    # Fixed: deletion_feed_idx (deleted_at, id) serves every page.
    ordering_fields = ["deleted_at"]
    ordering = ["deleted_at"]


class _FilteredExportSchema(AutoSchema):
    """Document the conversation filters on the exports, which drf-spectacular
    only does by itself for list views."""

    def get_filter_backends(self) -> list[Any]:
        return list(getattr(self.view, "filter_backends", []))


class _ExportView(generics.GenericAPIView[Conversation]):
    """A stream of every conversation the filters select (no pagination)."""

    queryset = Conversation.objects.all()
    filter_backends = [DjangoFilterBackend]
    filterset_class = filters.ConversationFilter
    pagination_class = None
    schema = _FilteredExportSchema()
    media_type = ""
    extension = ""

    def perform_content_negotiation(
        self, request: Request, force: bool = False
    ) -> tuple[BaseRenderer, str]:
        # The body's format is fixed by the URL. Accept only picks how an
        # error is rendered: JSON when the client asked for something else,
        # never a 406.
        return super().perform_content_negotiation(request, force=True)

    def streaming_response(self, body: Any, *, name: str) -> StreamingHttpResponse:
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response = StreamingHttpResponse(body, content_type=self.media_type)
        response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.{self.extension}"'
        # Proxies such as nginx buffer responses by default; let it flow.
        response["X-Accel-Buffering"] = "no"
        return response


class ConversationsNdjsonExportView(RecordedApiExport, _ExportView):
    media_type = "application/x-ndjson"
    extension = "ndjson"
    audit_action = AccessAction.API_EXPORT_NDJSON
    audit_rows = NdjsonLines

    @extend_schema(
        operation_id="export_conversations_ndjson",
        summary="Every selected conversation with its transcript, one JSON object a line",
        description=(
            "Newline-delimited JSON in conversation id order. Each line has the shape of "
            "`GET /api/v1/conversations/{id}/`. Takes the conversation list's filters; "
            "not paginated: the response streams until the last conversation."
        ),
        responses={
            (200, "application/x-ndjson"): OpenApiResponse(
                OpenApiTypes.STR, description="One ConversationDetail as JSON per line."
            )
        },
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        conversations = self.filter_queryset(self.get_queryset())
        return self.streaming_response(
            stream_conversations_ndjson(conversations), name="conversations"
        )


class MessagesCsvExportView(RecordedApiExport, _ExportView):
    media_type = "text/csv; charset=utf-8"
    extension = "csv"
    audit_action = AccessAction.API_EXPORT_CSV
    audit_rows = CsvRecords
    also_reveals = (Message,)

    @extend_schema(
        operation_id="export_messages_csv",
        summary="Every message of the selected conversations, one CSV row each",
        description=(
            "CSV (RFC 4180 quoting, UTF-8, LF line ends) with a header row: message_id, "
            "conversation_id, sent_at, "
            "author_role, author_id, author_email, author_phone, text, customer_id, "
            "customer_name, customer_email, customer_phone, adviser_id, adviser_name, "
            "adviser_email. Ordered by conversation id, then time. Takes the conversation "
            "list's filters; not paginated. Safe to open in a spreadsheet: a text cell "
            "starting with `=`, `+`, `-`, `@`, a tab, a carriage return or `'` is written "
            "with one more `'` in front (drop it to get the original)."
        ),
        parameters=[serializers.CsvExportOptions],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="A header row, then one row per message."
            )
        },
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        options = serializers.CsvExportOptions(data=request.query_params)
        options.is_valid(raise_exception=True)
        conversations = self.filter_queryset(self.get_queryset())
        return self.streaming_response(
            stream_messages_csv(conversations, bom=options.validated_data["bom"]),
            name="messages",
        )
