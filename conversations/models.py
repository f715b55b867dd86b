"""The archive: customers, advisers, conversations, messages, and the ledger
of conversation events that decides which conversation is which.

Closer's payloads carry no conversation id, so a customer's conversations are
derived from the set of their events (see ``conversations.identity``). The
``ConversationEvent`` ledger keeps, per customer, each distinct event's type
and timestamp in indexed columns so that derivation never re-reads raw bodies.
"""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.text import Truncator

from . import timeformat

# A customer's name in a title, a breadcrumb or a checkbox label: a name of
# thousands of characters (it happens: a pasted text) is cut there, never in
# the customer's own page.
TITLE_NAME_LENGTH = 80


def title_name(name: str) -> str:
    return name if len(name) <= TITLE_NAME_LENGTH else Truncator(name).chars(TITLE_NAME_LENGTH)


class Customer(models.Model):
    """A Closer visitor, upserted by Closer's id; details follow the newest event."""

    closer_id = models.CharField(max_length=100, unique=True)
    api_key = models.CharField(max_length=100, blank=True)
    first_name = models.CharField(max_length=200, blank=True)
    last_name = models.CharField(max_length=200, blank=True)
    random_name = models.CharField("alias", max_length=200, blank=True)
    email = models.CharField(max_length=320, blank=True)
    phone = models.CharField(max_length=100, blank=True)
    # Event time (epoch ms) that last wrote each detail field: an older event
    # never overwrites a field a newer one wrote, whatever the arrival order.
    field_times = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # API incremental reads: WHERE updated_at >= ? (migration 0003).
            models.Index(fields=["updated_at"], name="customer_updated_idx"),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        full = f"{self.first_name} {self.last_name}".strip()
        return full or self.random_name or self.email or self.closer_id


class Adviser(models.Model):
    """A Closer agent (human or bot), upserted by Closer's id."""

    closer_id = models.CharField(max_length=100, unique=True)
    first_name = models.CharField(max_length=200, blank=True)
    last_name = models.CharField(max_length=200, blank=True)
    email = models.CharField(max_length=320, blank=True)
    is_bot = models.BooleanField(default=False)
    field_times = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        full = f"{self.first_name} {self.last_name}".strip()
        return full or self.email or self.closer_id


class EventKind(models.TextChoices):
    CREATED = "created", "conversation.created"
    CLOSED = "closed", "conversation.closed"


class ConversationEvent(models.Model):
    """One distinct created/closed event of a customer: the input of the walk.

    A re-delivery (same customer, kind and timestamp) updates the row in place:
    the one received last wins, as DESIGN.md says.
    """

    # No index of its own: uniq_event_per_customer leads with customer_id and
    # serves the walk's WHERE customer_id IN (...) and cascades alike.
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    kind = models.CharField(max_length=10, choices=EventKind.choices)
    occurred_ms = models.BigIntegerField(help_text="The event's own timestamp, epoch ms.")
    # An explicit conversation id, when a payload ever carries one.
    conversation_ref = models.CharField(max_length=200, blank=True)
    visitor_context = models.JSONField(default=dict, blank=True)
    closed_type = models.CharField(max_length=100, blank=True)
    assignee = models.ForeignKey(
        Adviser, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    first_message_ms = models.BigIntegerField(null=True, blank=True)
    # The inbound event that delivered it last (webhooks.InboundEvent id).
    # A plain integer, not a foreign key: the archive does not depend on the
    # way in, and pruning old inbound events must not touch the archive.
    inbound_event_id = models.BigIntegerField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # Re-deliveries collapse into one row: rule 1 of the identity walk.
            models.UniqueConstraint(
                fields=["customer", "kind", "occurred_ms"], name="uniq_event_per_customer"
            ),
        ]
        # The unique constraint's index also serves the walk, which reads
        # WHERE customer_id = ? ORDER BY occurred_ms.

    def __str__(self) -> str:
        # "conversation.closed of Jon Snow at 2026-12-07 14:03:05.120 CET"
        customer = title_name(self.customer.display_name)
        return f"{self.get_kind_display()} of {customer} at {timeformat.epoch_ms(self.occurred_ms)}"


class ConversationStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


# When a conversation's retention period starts: its closing time, or for an
# open one its opening time (an open conversation has no messages, which come
# only with the closed event, so it has no later activity).
RETENTION_TIME = Coalesce("closed_at", "opened_at")


class ConversationManager(models.Manager["Conversation"]):
    def get_queryset(self) -> models.QuerySet["Conversation"]:
        # transcript_search is about as long as the transcript itself and only
        # the database reads it (search): rows loaded as objects leave it out.
        return super().get_queryset().defer("transcript_search")


class Conversation(models.Model):
    """A conversation as the identity walk defines it.

    The row keeps its primary key while it keeps its closed event (or, when
    it has none, its created event), so messages never move between rows.
    """

    # No index of its own: conversation_customer_idx (customer, opened_at)
    # serves WHERE customer_id = ? and the cascade.
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="conversations", db_index=False
    )
    # No index of its own: conversation_adviser_idx leads with it.
    assignee = models.ForeignKey(
        Adviser,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conversations",
        db_index=False,
    )
    closer_id = models.CharField(
        max_length=200, blank=True, help_text="Explicit conversation id, if Closer sent one."
    )
    status = models.CharField(max_length=10, choices=ConversationStatus.choices)
    closed_type = models.CharField(max_length=100, blank=True)
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    created_event_ms = models.BigIntegerField(null=True, blank=True)
    closed_event_ms = models.BigIntegerField(null=True, blank=True)
    created_event_missing = models.BooleanField(
        default=False, help_text="Closed, but its conversation.created event was never received."
    )
    visitor_context = models.JSONField(
        default=dict, blank=True, help_text="backOfficeData when the conversation started."
    )
    # Denormalised for the admin list: no COUNT or subquery per row.
    message_count = models.PositiveIntegerField(default=0)
    preview = models.CharField(max_length=200, blank=True)
    # The whole transcript as one text-search document (PostgreSQL only; null
    # on SQLite and for a conversation without messages): the admin search
    # matches words against one row per conversation instead of one per
    # message. Kept by the normaliser, the only writer of messages, with the
    # SQL of services.TRANSCRIPT_DOCUMENT; migration 0006 filled older rows.
    transcript_search = SearchVectorField(null=True, editable=False)
    # Set when retention anonymised it (services/retention.py): its texts and
    # personal details are gone, its counts and times kept for statistics.
    anonymised_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ConversationManager()

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            # One row per closed event, and one per created event: the walk's
            # output cannot be stored twice.
            models.UniqueConstraint(
                fields=["customer", "closed_event_ms"],
                condition=Q(closed_event_ms__isnull=False),
                name="uniq_conversation_closed_event",
            ),
            models.UniqueConstraint(
                fields=["customer", "created_event_ms"],
                condition=Q(created_event_ms__isnull=False),
                name="uniq_conversation_created_event",
            ),
            models.UniqueConstraint(
                fields=["closer_id"],
                condition=~Q(closer_id=""),
                name="uniq_conversation_closer_id",
            ),
            models.CheckConstraint(
                condition=Q(status="open", closed_at__isnull=True)
                | Q(status="closed", closed_at__isnull=False),
                name="conversation_closed_has_closed_at",
            ),
        ]
        indexes = [
            # Admin/API default ordering and the opened date filter.
            models.Index(fields=["-opened_at", "-id"], name="conversation_opened_idx"),
            # Incremental export: WHERE updated_at >= ? ORDER BY updated_at.
            models.Index(fields=["updated_at"], name="conversation_updated_idx"),
            # The walk's reconcile step: WHERE customer_id = ?.
            models.Index(fields=["customer", "opened_at"], name="conversation_customer_idx"),
            # The adviser filter and the adviser branch of the search: WHERE
            # assignee_id = ? ORDER BY opened_at DESC, id DESC (the list's order),
            # read from the index alone, without visiting an adviser's thousands
            # of conversation rows. Also serves the FK's ON DELETE SET NULL.
            models.Index(fields=["assignee", "-opened_at", "-id"], name="conversation_adviser_idx"),
            # The transcript branch of the search: WHERE transcript_search @@
            # websearch_to_tsquery('simple', closer_unaccent(?)). Created on
            # PostgreSQL only (migration 0006).
            GinIndex(fields=["transcript_search"], name="conversation_transcript_idx"),
            # Retention's batches: WHERE anonymised_at IS NULL AND
            # COALESCE(closed_at, opened_at) < ? LIMIT n (RETENTION_TIME), and
            # in delete mode the same with anonymised_at IS NOT NULL (rows an
            # earlier anonymise mode left). Led by anonymised_at: a daily run
            # reads the day's newly expired rows, never the years anonymised.
            models.Index(F("anonymised_at"), RETENTION_TIME, name="conversation_retention_idx"),
        ]

    def __str__(self) -> str:
        # "Conversation with Jon Snow on 2026-12-07 (closed)": the page title,
        # breadcrumbs and checkbox labels of the admin. Reads only fields the
        # changelist loads (ConversationAdmin.list_only).
        customer = title_name(self.customer.display_name)
        return f"Conversation with {customer} on {timeformat.day(self.opened_at)} ({self.status})"


class MessageRole(models.TextChoices):
    CUSTOMER = "CUSTOMER", "Customer"
    ADVISER = "ADVISER", "Adviser"


class Message(models.Model):
    """One line of a transcript. Identity: (author id, role, time, text)."""

    # No index of its own: message_transcript_idx and uniq_message_in_conversation
    # both lead with conversation_id and serve every WHERE conversation_id = ?
    # (and the cascade); a third index only slowed each insert (a backfill
    # writes a million rows).
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    # Open set: Closer may send roles beyond CUSTOMER and ADVISER.
    author_role = models.CharField(max_length=40)
    author_closer_id = models.CharField(max_length=100, blank=True)
    author_email = models.CharField(max_length=320, blank=True)
    author_phone = models.CharField(max_length=100, blank=True)
    text = models.TextField(blank=True)
    sent_at = models.DateTimeField()
    # SHA-256 of the identity tuple: a unique index on the text itself would
    # break on long messages (btree rows are limited to ~2.7 kB).
    fingerprint = models.CharField(max_length=64)

    class Meta:
        ordering = ["sent_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "fingerprint"], name="uniq_message_in_conversation"
            ),
        ]
        indexes = [
            # The transcript: WHERE conversation_id = ? ORDER BY sent_at.
            models.Index(fields=["conversation", "sent_at"], name="message_transcript_idx"),
            # The API's messages in time order (0011):
            # WHERE sent_at >= ? [AND (sent_at, id) > cursor] ORDER BY sent_at, id.
            models.Index(fields=["sent_at", "id"], name="message_sent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.author_role} at {timeformat.second(self.sent_at)}: {self.text[:40]}"


class DeletionReason(models.TextChoices):
    ERASED = "erased", "Customer erased"
    RETENTION = "retention", "Retention period ended"
    MERGED = "merged", "Merged into another conversation"


class ConversationDeletion(models.Model):
    """A conversation that left the archive, so that a client's copy can leave too.

    The feed of ``/api/v1/deletions/``. Holds no personal data: only the id
    the conversation had, why it went and when. Written in the transaction
    that deletes the row (``services.deletions.record_deletions``).
    """

    conversation_id = models.BigIntegerField()
    reason = models.CharField(max_length=20, choices=DeletionReason.choices)
    deleted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["deleted_at", "id"]
        indexes = [
            # The deletions feed: WHERE deleted_at >= ? ORDER BY deleted_at, id.
            models.Index(fields=["deleted_at", "id"], name="deletion_feed_idx"),
        ]

    def __str__(self) -> str:
        return (
            f"Conversation {self.conversation_id} deleted ({self.reason})"
            f" at {timeformat.minute(self.deleted_at)}"
        )


class HandlingChoices(models.TextChoices):
    """Who answered: see ``conversations.insights.metrics.Handling``."""

    BOT_ONLY = "bot_only", "Bot only"
    BOT_THEN_HUMAN = "bot_then_human", "Bot, then human"
    HUMAN_ONLY = "human_only", "Human only"
    NONE = "none", "No answer"


class ConversationMetrics(models.Model):
    """A conversation's Insights metrics, computed once by the normaliser.

    A table of its own rather than columns on ``Conversation``: the
    conversation row is the hot one (the changelist, the search, every
    re-pairing update) and stays narrow; this one can be rebuilt from the
    messages at any time (``manage.py refresh_insights --all``). The
    conversation's filter columns are copied here so the Insights reads
    never join. Definitions: ``conversations.insights.metrics``.
    """

    conversation = models.OneToOneField(
        Conversation, on_delete=models.CASCADE, primary_key=True, related_name="metrics"
    )
    opened_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=ConversationStatus.choices)
    closed_type = models.CharField(max_length=100, blank=True)
    # A plain id: the Insights reads filter by it and name advisers apart.
    assignee_id = models.BigIntegerField(null=True, blank=True)
    handling = models.CharField(max_length=20, choices=HandlingChoices.choices)
    first_customer_message_at = models.DateTimeField(null=True, blank=True)
    first_response_ms = models.BigIntegerField(null=True, blank=True)
    first_human_response_ms = models.BigIntegerField(null=True, blank=True)
    time_to_close_ms = models.BigIntegerField(null=True, blank=True)
    customer_messages = models.PositiveIntegerField(default=0)
    adviser_messages = models.PositiveIntegerField(default=0)
    bot_messages = models.PositiveIntegerField(default=0)
    other_messages = models.PositiveIntegerField(default=0)
    assignee_messages = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "insights"
        verbose_name_plural = "insights"
        # The Insights page and /api/v1/insights/ (the admin index links it).
        permissions = [("view_insights", "Can view the Insights page and API")]
        indexes = [
            # Percentiles over a date range: WHERE opened_at >= ? AND opened_at < ?;
            # and the roll-up refresh of an hour.
            models.Index(fields=["opened_at"], name="metrics_opened_idx"),
            # The same with the adviser filter, and per-adviser medians.
            models.Index(fields=["assignee_id", "opened_at"], name="metrics_adviser_idx"),
        ]

    def __str__(self) -> str:
        return f"Metrics of conversation {self.conversation_id}"


class InsightsHour(models.Model):
    """Hourly roll-up of ``ConversationMetrics``: one row per UTC hour of
    opening and slice (assignee, handling, status, closed type).

    Days, weeks and months in any time zone, and weekday x hour heat maps,
    are sums of these rows. Percentiles cannot be summed: they are read from
    ``ConversationMetrics`` (``conversations.insights.queries``).
    """

    hour = models.DateTimeField(help_text="The UTC hour the conversations opened in.")
    assignee_id = models.BigIntegerField(null=True, blank=True)
    handling = models.CharField(max_length=20, choices=HandlingChoices.choices)
    status = models.CharField(max_length=10, choices=ConversationStatus.choices)
    closed_type = models.CharField(max_length=100, blank=True)
    conversations = models.PositiveIntegerField(default=0)
    answered = models.PositiveIntegerField(default=0)
    human_answered = models.PositiveIntegerField(default=0)
    customer_messages = models.PositiveIntegerField(default=0)
    adviser_messages = models.PositiveIntegerField(default=0)
    bot_messages = models.PositiveIntegerField(default=0)
    other_messages = models.PositiveIntegerField(default=0)
    assignee_messages = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            # Every Insights read: WHERE hour >= ? AND hour < ?.
            models.Index(fields=["hour"], name="insights_hour_idx"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.conversations} conversations opened in the hour of {self.hour:%Y-%m-%d %H:00}"
        )


class InsightsPendingHour(models.Model):
    """An hour whose roll-up is out of date: written by whatever changes
    conversations (no lock), consumed by ``insights.store.refresh_rollups``,
    which deletes only the rows it read, so a change committed meanwhile
    stays pending."""

    hour = models.DateTimeField()

    def __str__(self) -> str:
        return f"Roll-up of {self.hour:%Y-%m-%d %H:00} pending"
