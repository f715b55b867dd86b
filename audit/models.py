"""The access log: who read which conversations, when, and how.

A record names what was read (conversation ids, or the query string of a
list or an export) and how much (a row count), never its content: no
transcript text, no customer details. It is written by the admin and the API
of the apps above this one, which is why ``audit`` imports none of them.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


class AccessAction(models.TextChoices):
    """Every kind of read that shows transcript text (or a raw body holding it)."""

    ADMIN_CONVERSATION_VIEWED = "admin_conversation_viewed", "Conversation viewed in the admin"
    # The changelist shows each conversation's first customer message.
    ADMIN_CONVERSATION_LIST = "admin_conversation_list", "Conversation list viewed in the admin"
    ADMIN_TRANSCRIPT_DOWNLOADED = (
        "admin_transcript_downloaded",
        "Transcript downloaded from the admin (text or HTML)",
    )
    ADMIN_EXPORT_NDJSON = "admin_export_ndjson", "Admin export (NDJSON)"
    ADMIN_EXPORT_CSV = "admin_export_csv", "Admin export (CSV)"
    # Conversation lists carry each one's preview; message lists their texts.
    API_LIST = "api_list", "API list read"
    API_DETAIL = "api_detail", "API detail read"
    API_EXPORT_NDJSON = "api_export_ndjson", "API export (NDJSON)"
    API_EXPORT_CSV = "api_export_csv", "API export (CSV)"
    # An inbound event's raw body is the webhook as sent, transcript included.
    INBOUND_EVENT_VIEWED = "inbound_event_viewed", "Inbound event viewed (admin or API)"


class AccessRecord(models.Model):
    """One read. Append-only: the admin offers no way to add, change or delete
    one; only ``services.prune_access_records`` deletes, past the retention."""

    # Null once the user is deleted; the username copy still says who it was.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    username = models.CharField(max_length=150)
    at = models.DateTimeField(default=timezone.now)
    action = models.CharField(max_length=32, choices=AccessAction.choices)
    path = models.TextField(help_text="The request's path, without its query string.")
    query = models.TextField(
        blank=True, help_text="The query string: a list's or an export's filters, as sent."
    )
    row_count = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Rows sent: conversations, messages or events. Empty while an export streams.",
    )
    # Exports only: True when the stream reached its end, False when it
    # stopped early (the client went away, or the export failed).
    completed = models.BooleanField(null=True, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        # Reading the log is its own permission; nobody adds, changes or
        # deletes records through Django's permissions.
        default_permissions = ()
        permissions = [("read_access_log", "Can read the access log")]
        indexes = [
            # The admin's list, newest first, and its date filter; pruning's
            # WHERE at < cutoff.
            models.Index(fields=["at"], name="access_at_idx"),
            # "What did this member of staff read?": the user filter, newest first.
            models.Index(fields=["user", "at"], name="access_user_at_idx"),
            # The action filter, newest first.
            models.Index(fields=["action", "at"], name="access_action_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.username or '-'} {self.get_action_display()} at {self.at:%Y-%m-%d %H:%M:%S}"


class AccessedConversation(models.Model):
    """A conversation a record names (a handful per record: a page, a detail,
    an export of selected rows). A plain id, not a foreign key: the record
    outlives the conversation's erasure or retention."""

    record = models.ForeignKey(AccessRecord, on_delete=models.CASCADE, related_name="conversations")
    conversation_id = models.BigIntegerField()

    class Meta:
        constraints = [
            # Also the index of a record's conversations (the admin's
            # prefetch, and pruning's cascade).
            models.UniqueConstraint(
                fields=["record", "conversation_id"], name="accessed_conversation_once"
            )
        ]
        indexes = [
            # "Who read conversation N?": the admin's search by conversation id.
            models.Index(fields=["conversation_id"], name="accessed_conversation_idx"),
        ]

    def __str__(self) -> str:
        return f"conversation {self.conversation_id} in access record {self.record_id}"
