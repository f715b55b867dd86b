"""Query-string filters of the list endpoints and the exports (django-filter).

The exports use ``ConversationFilter`` too, so a filter means the same thing
on ``/conversations/`` and on ``/export/…``. Date-time filters take ISO 8601
(``2024-05-01T00:00:00Z``); a value without an offset is read as UTC.
"""

from datetime import UTC, datetime
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.forms.utils import ErrorDict, ErrorList
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField, IsoDateTimeRangeField, RangeField

from ..models import Adviser, Conversation, ConversationStatus, Customer, Message
from ..selectors import search_conversations


class UtcDateTimeField(IsoDateTimeField):
    """An ISO 8601 time, converted to UTC before it reaches the database.

    Python accepts offsets up to ±23:59, PostgreSQL only up to ±15:59: a
    legal ``+16:00`` would otherwise fail in the query (a 500), and a time
    at the edge of year 1 or 9999 can leave the calendar once in UTC.
    """

    def to_python(self, value: Any) -> datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise ValidationError("This time is out of range.", code="invalid") from None


class UtcDateTimeRangeField(IsoDateTimeRangeField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        RangeField.__init__(self, (UtcDateTimeField(), UtcDateTimeField()), *args, **kwargs)


class UtcDateTimeFilter(filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class UtcDateTimeRangeFilter(filters.IsoDateTimeFromToRangeFilter):
    field_class = UtcDateTimeRangeField


class IdFilter(filters.NumberFilter):
    """A whole number (django-filter's NumberFilter takes decimals)."""

    field_class = forms.IntegerField


class StrictBooleanFilter(filters.TypedChoiceFilter):
    """``true`` or ``false``; anything else is a 400, not silently ignored
    (django-filter's BooleanFilter drops values it does not recognise)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("choices", [("true", "true"), ("false", "false")])
        kwargs.setdefault("coerce", lambda value: value == "true")
        super().__init__(*args, **kwargs)


class ArchiveFilterSet(filters.FilterSet):
    """A FilterSet whose errors name the query parameter at fault.

    django-filter files a range filter's errors under the filter's name
    (``opened``), which is no parameter at all: the client sent
    ``opened_after`` or ``opened_before``. Each half of a range is checked
    again on its own, and its error filed under its own parameter.
    """

    @property
    def errors(self) -> ErrorDict:
        named = ErrorDict(renderer=self.form.renderer)
        for name, messages in self.form.errors.items():
            field = self.form.fields.get(name)
            halves = self._range_errors(name, field) if isinstance(field, RangeField) else {}
            named.update(halves or {name: messages})
        return named

    def _range_errors(self, name: str, field: RangeField) -> dict[str, ErrorList]:
        errors = {}
        suffixes = getattr(field.widget, "suffixes", None) or ["min", "max"]
        for suffix, half in zip(suffixes, field.fields, strict=True):
            parameter = f"{name}_{suffix}"
            try:
                half.clean(self.form.data.get(parameter))
            except ValidationError as error:
                errors[parameter] = ErrorList(error.error_list)
        return errors


def _name_matches(prefix: str, words: str, *, alias: bool) -> Q:
    """Every word of ``words`` in the first name, last name (or alias)."""
    condition = Q()
    for word in words.split():
        either = Q(**{f"{prefix}first_name__icontains": word}) | Q(
            **{f"{prefix}last_name__icontains": word}
        )
        if alias:
            either |= Q(**{f"{prefix}random_name__icontains": word})
        condition &= either
    return condition


class ConversationFilter(ArchiveFilterSet):
    customer = filters.CharFilter(
        field_name="customer__closer_id", help_text="The customer's Closer id."
    )
    customer_email = filters.CharFilter(
        field_name="customer__email", lookup_expr="iexact", help_text="Case-insensitive."
    )
    customer_phone = filters.CharFilter(field_name="customer__phone", help_text="Exact match.")
    customer_name = filters.CharFilter(
        method="filter_customer_name",
        help_text="Every word in the customer's first name, last name or alias.",
    )
    adviser = filters.CharFilter(
        field_name="assignee__closer_id", help_text="The adviser's Closer id."
    )
    adviser_email = filters.CharFilter(
        field_name="assignee__email", lookup_expr="iexact", help_text="Case-insensitive."
    )
    status = filters.ChoiceFilter(choices=ConversationStatus.choices)
    closed_type = filters.CharFilter(help_text="How it ended, e.g. `solved`.")
    bot_adviser = StrictBooleanFilter(
        field_name="assignee__is_bot", help_text="Held by a bot (true) or a person (false)."
    )
    opened = UtcDateTimeRangeFilter(
        field_name="opened_at", help_text="Opened at or after / at or before (ISO 8601)."
    )
    closed = UtcDateTimeRangeFilter(
        field_name="closed_at", help_text="Closed at or after / at or before (ISO 8601)."
    )
    updated_since = UtcDateTimeFilter(
        field_name="updated_at",
        lookup_expr="gte",
        help_text="Changed at or after this time (ISO 8601): incremental export.",
    )
    q = filters.CharFilter(
        method="filter_search",
        help_text="Full-text search over the transcript, customer and adviser.",
    )

    class Meta:
        model = Conversation
        fields: list[str] = []

    def filter_customer_name(
        self, queryset: QuerySet[Conversation], name: str, value: str
    ) -> QuerySet[Conversation]:
        return queryset.filter(_name_matches("customer__", value, alias=True))

    def filter_search(
        self, queryset: QuerySet[Conversation], name: str, value: str
    ) -> QuerySet[Conversation]:
        # The one search the admin uses too: decided in selectors, not here.
        return search_conversations(query=value, queryset=queryset)


class MessageFilter(ArchiveFilterSet):
    conversation = IdFilter(field_name="conversation_id", help_text="The conversation's id.")
    customer = filters.CharFilter(
        field_name="conversation__customer__closer_id", help_text="The customer's Closer id."
    )
    author_role = filters.CharFilter(help_text="`CUSTOMER`, `ADVISER`, or another role.")
    sent = UtcDateTimeRangeFilter(
        field_name="sent_at", help_text="Sent at or after / at or before (ISO 8601)."
    )

    class Meta:
        model = Message
        fields: list[str] = []


class CustomerFilter(ArchiveFilterSet):
    email = filters.CharFilter(lookup_expr="iexact", help_text="Case-insensitive.")
    phone = filters.CharFilter(help_text="Exact match.")
    name = filters.CharFilter(
        method="filter_name", help_text="Every word in the first name, last name or alias."
    )
    updated_since = UtcDateTimeFilter(
        field_name="updated_at", lookup_expr="gte", help_text="Changed at or after (ISO 8601)."
    )

    class Meta:
        model = Customer
        fields: list[str] = []

    def filter_name(
        self, queryset: QuerySet[Customer], name: str, value: str
    ) -> QuerySet[Customer]:
        return queryset.filter(_name_matches("", value, alias=True))


class AdviserFilter(ArchiveFilterSet):
    email = filters.CharFilter(lookup_expr="iexact", help_text="Case-insensitive.")
    name = filters.CharFilter(
        method="filter_name", help_text="Every word in the first or last name."
    )
    is_bot = StrictBooleanFilter()
    updated_since = UtcDateTimeFilter(
        field_name="updated_at", lookup_expr="gte", help_text="Changed at or after (ISO 8601)."
    )

    class Meta:
        model = Adviser
        fields: list[str] = []

    def filter_name(self, queryset: QuerySet[Adviser], name: str, value: str) -> QuerySet[Adviser]:
        return queryset.filter(_name_matches("", value, alias=False))
