"""Ordering and cursor pagination: stable while rows are inserted, fast on deep pages."""

from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet
from rest_framework.filters import OrderingFilter
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request

if TYPE_CHECKING:  # rest_framework.views imports the pagination settings
    from rest_framework.views import APIView


class ArchiveCursorPagination(CursorPagination):
    """DRF's cursor pagination with a bounded page size and a unique tie-breaker.

    The cursor keeps the first ordering field's value (``opened_at`` by
    default), so the next page is ``WHERE opened_at < last seen``: an index
    range scan however deep, and rows inserted meanwhile can neither repeat
    nor push others off a page. ``id`` is appended to every ordering so rows
    sharing a timestamp always come in the same order.
    """

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = ("-id",)

    def get_ordering(
        self, request: Request, queryset: QuerySet[Any], view: "APIView"
    ) -> tuple[str, ...]:
        ordering = tuple(super().get_ordering(request, queryset, view))
        if any(field.lstrip("-") in {"id", "pk"} for field in ordering):
            return ordering
        return (*ordering, "-id" if ordering[0].startswith("-") else "id")


class DocumentedOrderingFilter(OrderingFilter):
    """DRF's ``?ordering=`` with its accepted values listed in the schema."""

    def get_schema_operation_parameters(self, view: "APIView") -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        fields = getattr(view, "ordering_fields", None)
        if not fields or fields == "__all__":
            return parameters
        default = ",".join(getattr(view, "ordering", None) or ())
        for parameter in parameters:
            parameter["schema"]["enum"] = [value for f in fields for value in (f, f"-{f}")]
            parameter["description"] = f"Sort order; `-` for descending. Default: `{default}`."
        return parameters
