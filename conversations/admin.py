from django.contrib import admin

from .models import Adviser, Conversation, ConversationEvent, Customer, Message


class ReadOnlyAdmin(admin.ModelAdmin):
    """The archive is written by the normaliser only."""

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Customer)
class CustomerAdmin(ReadOnlyAdmin):
    list_display = ["closer_id", "first_name", "last_name", "random_name", "email", "phone"]
    search_fields = ["closer_id", "first_name", "last_name", "random_name", "email", "phone"]


@admin.register(Adviser)
class AdviserAdmin(ReadOnlyAdmin):
    list_display = ["closer_id", "first_name", "last_name", "email", "is_bot"]
    search_fields = ["closer_id", "first_name", "last_name", "email"]


class MessageInline(admin.TabularInline):
    model = Message
    fields = ("sent_at", "author_role", "author_closer_id", "text")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "customer",
        "assignee",
        "status",
        "closed_type",
        "opened_at",
        "message_count",
    ]
    list_filter = ["status", "created_event_missing"]
    list_select_related = ["customer", "assignee"]
    inlines = [MessageInline]


@admin.register(ConversationEvent)
class ConversationEventAdmin(ReadOnlyAdmin):
    list_display = ["customer", "kind", "occurred_ms", "inbound_event_id", "received_at"]
    list_select_related = ["customer"]
