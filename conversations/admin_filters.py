"""Changelist filters that stay cheap on a table of millions of conversations."""

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import Model, QuerySet
from django.db.models.functions import ExtractHour, ExtractIsoWeekDay
from django.http import HttpRequest

from . import selectors
from .models import Adviser, Customer, HandlingChoices


class ClosedTypeFilter(admin.SimpleListFilter):
    """Closed types are an open set of strings: list the ones in the archive,
    found by a loose index scan rather than a DISTINCT over every row."""

    title = "closed type"
    parameter_name = "closed_type"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(value, value) for value in selectors.cached_closed_types()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(closed_type=value) if value else queryset


class CreatedEventFilter(admin.BooleanFieldListFilter):
    """``created_event_missing`` as "created event: received / missing": the
    field's own "created event missing: yes / no" read backwards. The URL
    parameter stays ``created_event_missing__exact``."""

    labels = {"1": "Missing", "0": "Received"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.title = "created event"

    def choices(self, changelist: Any) -> Any:
        for choice, lookup in zip(super().choices(changelist), (None, "1", "0"), strict=False):
            yield {**choice, "display": self.labels.get(lookup or "", choice["display"])}


class AdviserKindFilter(admin.SimpleListFilter):
    title = "adviser kind"
    parameter_name = "adviser_kind"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("human", "Human"), ("bot", "Bot"), ("none", "No adviser")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        match self.value():
            case "human":
                return queryset.filter(assignee__is_bot=False)
            case "bot":
                return queryset.filter(assignee__is_bot=True)
            case "none":
                return queryset.filter(assignee__isnull=True)
        return queryset


class AutocompleteFilter(admin.SimpleListFilter):
    """Choose a related object by typing, with the admin's own autocomplete.

    A plain related-field filter lists every adviser or customer in the
    sidebar; this one renders one select2 box fed by the admin's
    ``autocomplete/`` view (so the related admin's search decides the
    matches) and loads only the chosen object.
    """

    template = "admin/conversations/autocomplete_filter.html"
    field_name: str = ""  # the foreign key on the changelist's model
    related_model: type[Model]

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        chosen = self.chosen()
        return [(str(chosen.pk), str(chosen))] if chosen else []

    def has_output(self) -> bool:
        return True

    def chosen(self) -> Model | None:
        value = self.value()
        if not value:
            return None
        if not value.isdigit():
            raise IncorrectLookupParameters(f"{self.parameter_name} must be an id")
        return self.related_model._default_manager.filter(pk=int(value)).first()

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(**{f"{self.field_name}_id": value}) if value else queryset

    def choices(self, changelist: Any) -> Any:
        # The template needs the URL without this filter, to build the others.
        yield {
            "clear_url": changelist.get_query_string(remove=[self.parameter_name]),
            "parameter_name": self.parameter_name,
            "app_label": changelist.opts.app_label,
            "model_name": changelist.opts.model_name,
            "field_name": self.field_name,
            "chosen": self.lookup_choices[0] if self.lookup_choices else None,
        }


class AdviserFilter(AutocompleteFilter):
    title = "adviser"
    parameter_name = "adviser"
    field_name = "assignee"
    related_model = Adviser


class CustomerFilter(AutocompleteFilter):
    title = "customer"
    parameter_name = "customer"
    field_name = "customer"
    related_model = Customer


class HandlingFilter(admin.SimpleListFilter):
    """Who answered (the Insights metric): bot only, bot then human, human only, none."""

    title = "handled by"
    parameter_name = "handling"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(HandlingChoices.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value:
            return queryset
        if value not in HandlingChoices.values:
            raise IncorrectLookupParameters(f"{self.parameter_name} must be one of the choices")
        return queryset.filter(metrics__handling=value)


class OpenedSlotFilter(admin.SimpleListFilter):
    """Opened on an ISO weekday (1 = Monday) at an hour, in a time zone:
    ``opened_slot=3-14-Europe/Warsaw``. The Insights heat map links here."""

    title = "opened weekday and hour"
    parameter_name = "opened_slot"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        value = self.value()
        return [(value, value)] if value else []

    def has_output(self) -> bool:
        return bool(self.value())

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value:
            return queryset
        weekday, _, rest = value.partition("-")
        hour, _, zone_name = rest.partition("-")
        try:
            zone = ZoneInfo(zone_name or "UTC")
            weekday_number, hour_number = int(weekday), int(hour)
        except (ValueError, ZoneInfoNotFoundError):
            raise IncorrectLookupParameters("opened_slot is weekday-hour-zone") from None
        if not (1 <= weekday_number <= 7 and 0 <= hour_number <= 23):
            raise IncorrectLookupParameters("opened_slot is weekday-hour-zone")
        return queryset.annotate(
            opened_weekday=ExtractIsoWeekDay("opened_at", tzinfo=zone),
            opened_hour=ExtractHour("opened_at", tzinfo=zone),
        ).filter(opened_weekday=weekday_number, opened_hour=hour_number)
