"""Representations of the archive. People are named by their Closer ids.

``ConversationDetailSerializer`` is the shape of one line of the NDJSON
export too (``conversations.exports.conversation_record``); a test holds the
two together.
"""

from typing import Any

from rest_framework import serializers

from ..models import Adviser, Conversation, ConversationDeletion, Customer, Message


class CustomerBriefSerializer(serializers.ModelSerializer[Customer]):
    id = serializers.CharField(source="closer_id", help_text="Closer's customer id.")
    alias = serializers.CharField(
        source="random_name", help_text="The name shown to an anonymous visitor."
    )

    class Meta:
        model = Customer
        fields = ["id", "first_name", "last_name", "alias", "email", "phone"]


class CustomerSerializer(CustomerBriefSerializer):
    class Meta(CustomerBriefSerializer.Meta):
        fields = [*CustomerBriefSerializer.Meta.fields, "api_key", "created_at", "updated_at"]


class AdviserBriefSerializer(serializers.ModelSerializer[Adviser]):
    id = serializers.CharField(source="closer_id", help_text="Closer's adviser id.")

    class Meta:
        model = Adviser
        fields = ["id", "first_name", "last_name", "email", "is_bot"]


class AdviserSerializer(AdviserBriefSerializer):
    class Meta(AdviserBriefSerializer.Meta):
        fields = [*AdviserBriefSerializer.Meta.fields, "created_at", "updated_at"]


class TranscriptMessageSerializer(serializers.ModelSerializer[Message]):
    author_id = serializers.CharField(source="author_closer_id")

    class Meta:
        model = Message
        fields = [
            "id",
            "sent_at",
            "author_role",
            "author_id",
            "author_email",
            "author_phone",
            "text",
        ]


class MessageSerializer(TranscriptMessageSerializer):
    conversation = serializers.IntegerField(source="conversation_id")

    class Meta(TranscriptMessageSerializer.Meta):
        fields = ["id", "conversation", *TranscriptMessageSerializer.Meta.fields[1:]]


_CONVERSATION_FIELDS = [
    "id",
    "closer_id",
    "status",
    "closed_type",
    "opened_at",
    "closed_at",
    "created_event_missing",
    "customer",
    "adviser",
    "visitor_context",
    "message_count",
]


class ConversationSerializer(serializers.ModelSerializer[Conversation]):
    customer = CustomerBriefSerializer()
    adviser = AdviserBriefSerializer(source="assignee", allow_null=True)

    class Meta:
        model = Conversation
        fields = [*_CONVERSATION_FIELDS, "preview", "updated_at"]


class ConversationDetailSerializer(ConversationSerializer):
    messages = TranscriptMessageSerializer(many=True, help_text="The transcript, oldest first.")

    class Meta(ConversationSerializer.Meta):
        fields = [*_CONVERSATION_FIELDS, "updated_at", "messages"]


class ConversationDeletionSerializer(serializers.ModelSerializer[ConversationDeletion]):
    conversation = serializers.IntegerField(
        source="conversation_id", help_text="The id the deleted conversation had."
    )

    class Meta:
        model = ConversationDeletion
        fields = ["conversation", "reason", "deleted_at"]


class CsvExportOptions(serializers.Serializer[Any]):
    """The CSV export's own query parameters, besides the conversation filters."""

    bom = serializers.BooleanField(
        default=False,
        help_text=(
            "Start the file with a UTF-8 byte order mark (`bom=1`), so that Excel reads it "
            "as UTF-8."
        ),
    )
