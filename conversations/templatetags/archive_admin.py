"""Template tags of the conversation changelist.

``archive_result_list``: Django's ``result_list`` with rows rendered once per
column (see ``conversations.admin_rows``).

``calendar_date_hierarchy``: a date hierarchy that reads no rows. Django's
own runs the changelist query twice more on every page (MIN/MAX, then a
DISTINCT over the dates of every matching row): on a large archive, a scan
of the whole table for an unfiltered page and two more executions of a
search. This one offers the calendar between the archive's first and last
opening (two probes of ``conversation_opened_idx``): every year, month and
day in that range, whether or not the current results have rows in it.
"""

import calendar
import datetime
from typing import Any

from django import template
from django.contrib.admin.templatetags.admin_list import result_headers, result_hidden_fields
from django.contrib.admin.templatetags.base import InclusionAdminNode
from django.utils import formats, timezone
from django.utils.safestring import mark_safe
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from conversations import selectors
from conversations.admin_rows import fast_results

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
    first, last = selectors.cached_opened_range()
    if first is None or last is None:
        return {"show": False}
    years = range(timezone.localtime(first).year, timezone.localtime(last).year + 1)
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
