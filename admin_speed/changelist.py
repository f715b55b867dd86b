"""Replaces ChangeList's result list and action checkbox; tests/admin_speed/test_admin_rows.py.

``LargeTableAdmin`` is a ``ModelAdmin`` for tables too large to count on
every page view: it pages with ``LargeTablePaginator``, loads only the
columns the list shows, and renders the action checkbox without the form
widget templates (docs/benchmarks.md, Admin search).
"""

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.http import HttpRequest
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from .paginators import LargeTablePaginator


class LargeTableChangeList(ChangeList):
    def get_results(self, request: HttpRequest) -> None:
        # The page loads only the columns the list shows (list_only), not
        # every JSON and text field of each row and its related rows.
        full = self.queryset
        only = getattr(self.model_admin, "list_only", None)
        if only:
            self.queryset = full.only(*only)
        try:
            super().get_results(request)
        finally:
            self.queryset = full
        # When the results fit on one page Django lists the whole queryset,
        # which would run a search a second time: take the page the
        # paginator already resolved instead.
        paginator = self.paginator
        resolved = isinstance(paginator, LargeTablePaginator) and paginator._ids is not None
        if resolved and not (self.show_all and self.can_show_all):
            self.result_list = paginator.page(self.page_num).object_list


class LargeTableAdmin(admin.ModelAdmin):
    """A changelist that never counts the whole table (see LargeTablePaginator)."""

    paginator = LargeTablePaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    # The fields a changelist page loads (QuerySet.only); None: all of them.
    list_only: list[str] | None = None

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return LargeTableChangeList

    def date_hierarchy_years(self) -> list[int]:
        """The years, ascending, with a value of ``date_hierarchy`` in the
        whole table (in the current time zone), none when it is empty:
        ``{% calendar_date_hierarchy %}`` offers them. Asked on every
        changelist page, so an admin that uses the tag answers it cheaply
        (an index, a cache)."""
        raise NotImplementedError(f"{type(self).__name__} has no date_hierarchy_years()")

    def action_checkbox(self, obj: Any) -> SafeString:
        return self.action_checkbox_renderer()(obj)

    def action_checkbox_renderer(self) -> Callable[[Any], SafeString]:
        """``action_checkbox`` for the rows of one page (admin_speed.rows calls
        it once per page, the label translated once rather than once a row).

        Django renders this checkbox through the form-widget templates, three
        template includes per row. This is the same HTML, formatted directly
        (the translated label is not escaped, as format_html does not escape
        its template).
        """
        label = gettext("Select this object for an action - {}")
        name = helpers.ACTION_CHECKBOX_NAME

        def render(obj: Any) -> SafeString:
            return mark_safe(  # noqa: S308 -- the values are escaped
                f'<input type="checkbox" name="{name}" value="{conditional_escape(obj.pk)}" '
                f'class="action-select" aria-label="{label.format(conditional_escape(str(obj)))}">'
            )

        return render
