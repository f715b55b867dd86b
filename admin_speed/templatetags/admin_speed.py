"""Replaces Django's `result_list`, `date_hierarchy` and nav sidebar; each tag below names its test.

- ``{% archive_result_list cl %}``: Django's ``{% result_list %}`` with the
  rows of ``admin_speed.rows``. tests/admin_speed/test_admin_rows.py pins it to Django's.
- ``{% calendar_date_hierarchy cl %}``: a date hierarchy that reads no rows.
  Django's runs the changelist query twice more per page (MIN/MAX, then a
  DISTINCT over the dates of every matching row); this one offers the years
  of ``cl.model_admin.date_hierarchy_years()`` (the whole table's, filters
  or not), then every month of a year and every day of a month, rows or not.
  tests/admin_speed/test_admin_rows.py pins it to Django's: each choice Django
  offers, with its link and title, and the same page for one day.
- ``{% nav_sidebar_cache_key %}``: the key under which admin/base_site.html
  caches Django's navigation sidebar. tests/admin_speed/test_admin_nav_sidebar.py pins
  the cached sidebar to the one Django renders.
"""

import calendar
import datetime
import hashlib
from functools import cache
from typing import Any

import django
from django import template
from django.contrib import admin
from django.contrib.admin.templatetags.admin_list import result_headers, result_hidden_fields
from django.contrib.admin.templatetags.base import InclusionAdminNode
from django.urls import reverse
from django.utils import formats
from django.utils.safestring import mark_safe
from django.utils.text import capfirst
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from admin_speed.rows import fast_results

register = template.Library()


@register.inclusion_tag("admin/date_hierarchy.html")
def calendar_date_hierarchy(cl: Any) -> dict[str, Any]:
    field = cl.date_hierarchy
    year_field, month_field, day_field = f"{field}__year", f"{field}__month", f"{field}__day"
    year, month, day = (cl.params.get(name) for name in (year_field, month_field, day_field))

    def link(filters: dict[str, Any]) -> str:
        return str(cl.get_query_string(filters, [f"{field}__"]))

    try:
        if year and month and day:
            chosen = datetime.date(int(year), int(month), int(day))
            return {
                "show": True,
                "back": {
                    "link": link({year_field: year, month_field: month}),
                    "title": capfirst(formats.date_format(chosen, "YEAR_MONTH_FORMAT")),
                },
                "choices": [{"title": capfirst(formats.date_format(chosen, "MONTH_DAY_FORMAT"))}],
            }
        if year and month:
            days = calendar.monthrange(int(year), int(month))[1]
            return {
                "show": True,
                "back": {"link": link({year_field: year}), "title": str(year)},
                "choices": [
                    {
                        "link": link({year_field: year, month_field: month, day_field: d}),
                        "title": capfirst(
                            formats.date_format(
                                datetime.date(int(year), int(month), d), "MONTH_DAY_FORMAT"
                            )
                        ),
                    }
                    for d in range(1, days + 1)
                ],
            }
        if year:
            return {
                "show": True,
                "back": {"link": link({}), "title": _("All dates")},
                "choices": [
                    {
                        "link": link({year_field: year, month_field: m}),
                        "title": capfirst(
                            formats.date_format(datetime.date(int(year), m, 1), "YEAR_MONTH_FORMAT")
                        ),
                    }
                    for m in range(1, 13)
                ],
            }
    except ValueError:  # a malformed date in the URL: the changelist reports it
        return {"show": False}
    years = cl.model_admin.date_hierarchy_years()
    if not years:
        return {"show": False}
    return {
        "show": True,
        "back": None,
        "choices": [{"link": link({year_field: str(y)}), "title": str(y)} for y in years],
    }


def archive_result_list(cl: Any) -> dict[str, Any]:
    """Django's ``result_list``, with the rows from ``fast_results``."""
    headers = list(result_headers(cl))
    rows = list(fast_results(cl))
    # The table body as one string for our change_list_results.html; list_editable
    # forms (which show their errors above a row) go through the template's loop.
    body = None if cl.formset else "".join(f"<tr>{''.join(row)}</tr>\n" for row in rows)
    return {
        "cl": cl,
        "result_hidden_fields": list(result_hidden_fields(cl)),
        "result_headers": headers,
        "num_sorted_fields": sum(1 for h in headers if h["sortable"] and h["sorted"]),
        "results": rows,
        "rows_html": mark_safe(body) if body else None,  # noqa: S308 -- escaped cells
    }


@register.tag(name="archive_result_list")
def archive_result_list_tag(parser: Any, token: Any) -> InclusionAdminNode:
    # The same template lookup as Django's {% result_list %}: per model, app, site.
    return InclusionAdminNode(
        parser,
        token,
        func=archive_result_list,
        template_name="change_list_results.html",
        takes_context=False,
    )


@register.simple_tag(takes_context=True)
def nav_sidebar_cache_key(context: Any) -> str:
    """What the sidebar of this page depends on, as one string for ``{% cache %}``.

    The sidebar shows the registered models the user may see, in the page's
    language, marking the app and model the page is under: the key is made
    of exactly those (base_site.html keeps it five minutes, so a deploy that
    changes what a model admin offers shows in every sidebar within that time).
    """
    request = context["request"]
    user = request.user
    # Superusers may do everything: one sidebar for all of them. Anyone else
    # sees what their permissions allow (read from the user's permission
    # cache, which the admin's own checks have filled): a permission granted
    # or taken away changes the key, so no one sees a stale sidebar.
    permissions = "superuser" if user.is_superuser else ",".join(sorted(user.get_all_permissions()))
    return "|".join(
        [registry_signature(), get_language() or "", section(request.path), permissions]
    )


def section(path: str) -> str:
    """The app and model a page is under (``<app_label>/<model_name>``): the
    sidebar marks that app and model current, the same on all of its pages."""
    index = reverse("admin:index")
    relative = path.removeprefix(index) if path.startswith(index) else path
    return "/".join(relative.split("/")[:2])


@cache
def registry_signature() -> str:
    """The registered models and Django's version: a deploy that changes
    either (a model added, renamed, or a new admin template) gets new keys."""
    # AdminSite has no public way to list its models; _registry is the dict
    # Django's own get_app_list reads.
    models = sorted(
        f"{model._meta.label}:{model._meta.verbose_name_plural}" for model in admin.site._registry
    )
    return hashlib.sha256(f"{django.get_version()}|{','.join(models)}".encode()).hexdigest()[:16]
