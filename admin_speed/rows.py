"""Replaces `items_for_result`; tests/admin_speed/test_admin_rows.py pins it to Django's HTML.

Django works out, for every cell of every row, what the column is, its
classes and empty value, and for the link column reverses the change URL
and resolves it again to merge the preserved filters. ``fast_results``
decides that once per column and once per page, then only reads and
formats each row's values (docs/benchmarks.md, Admin search). A list with a
column it does not know (a model attribute or property, ``__str__``, a
related lookup) or with list_editable forms is rendered by Django's code.
"""

import datetime
import html
import re
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings

# Django's private helpers, so that columns are read exactly as Django reads them.
from django.contrib.admin.templatetags.admin_list import (  # type: ignore[attr-defined]
    ResultList,
    _coerce_field_name,
    items_for_result,
)
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import (  # type: ignore[attr-defined]
    FieldIsAForeignKeyColumnName,
    _get_non_gfk_field,
    display_for_field,
    display_for_value,
    quote,
)
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.db import models
from django.urls import NoReverseMatch
from django.utils.html import format_html
from django.utils.safestring import mark_safe

Cell = Callable[[Any], str]

# Stands for the primary key in the change URL built once per page. Only
# characters that ``reverse`` leaves as they are, so it survives quoting.
PK_PLACEHOLDER = "~pk~"
# Admin-quoted keys made of these characters go into the URL unchanged; any
# other key takes Django's per-row path.
PLAIN_PK = re.compile(r"[\w.~-]+", re.ASCII)


def fast_results(cl: Any) -> Iterator[ResultList]:
    """The rows of ``cl`` as Django's ``results(cl)`` gives them, one cell per row.

    Each row's cells are joined into one string: the results template then
    prints one item per row instead of one per cell.
    """
    cells = None if cl.formset else column_cells(cl)
    if cells is None:  # list_editable forms or an unusual column: Django's path
        forms = cl.formset.forms if cl.formset else [None] * len(cl.result_list)
        for result, form in zip(cl.result_list, forms, strict=True):
            yield ResultList(form, items_for_result(cl, result, form))
        return
    for result in cl.result_list:
        # Each cell's content is escaped (as_html): the joined row is safe.
        yield ResultList(None, [mark_safe("".join([cell(result) for cell in cells]))])  # noqa: S308


def column_cells(cl: Any) -> list[Cell] | None:
    """One function per column, or None when a column is not one we know."""
    cells = []
    first = True
    for index, field_name in enumerate(cl.list_display):
        link = link_in_column(cl, first, field_name)
        cell = column_cell(cl, index, field_name, link=link, first=first)
        if cell is None:
            return None
        cells.append(cell)
        if link:
            first = False
    return cells


def link_in_column(cl: Any, is_first: bool, field_name: Any) -> bool:
    if cl.list_display_links is None:
        return False
    if is_first and not cl.list_display_links:
        return True
    return field_name in cl.list_display_links


def column_cell(cl: Any, index: int, field_name: Any, *, link: bool, first: bool) -> Cell | None:
    """A function from a row to this column's ``<td>`` (or linked ``<th>``),
    as ``items_for_result`` renders it."""
    found = column_value(cl, field_name)
    if found is None:
        return None
    field, attr, read = found
    default_empty = cl.model_admin.get_empty_value_display()
    empty = getattr(attr, "empty_value_display", default_empty)
    classes = [f"field-{_coerce_field_name(field_name, index)}"]
    # (shown, nowrap) for a row; nowrap only where Django decides it per value.
    # Integers print as they are without thousand separators: number_format's
    # own shortcut, without its locale lookups.
    plain_ints = not settings.USE_THOUSAND_SEPARATOR
    represent: Callable[[Any], tuple[Any, bool]]

    if field is None or field.auto_created:
        if field_name == "action_checkbox":
            classes = ["action-checkbox"]
        boolean = getattr(attr, "boolean", False)
        if isinstance(attr, property) and hasattr(attr, "fget"):
            boolean = getattr(attr.fget, "boolean", False)

        def represent(result: Any) -> tuple[Any, bool]:
            value = read(result)
            if type(value) is int and plain_ints and not boolean:
                return str(value), False
            if type(value) is str and not boolean:
                # What display_for_value answers for text, without its type checks.
                return (value if value.strip() else empty), False
            if isinstance(value, str) and value.strip() == "":
                value = ""
            nowrap = isinstance(value, (datetime.date, datetime.time))
            return display_for_value(value, empty, boolean), nowrap

    elif isinstance(field.remote_field, models.ManyToOneRel):
        nowrap_key = isinstance(field, models.ForeignKey)

        def represent(result: Any) -> tuple[Any, bool]:
            related = read(result)
            return (empty if related is None else related), nowrap_key

    else:
        choices = flat_choices(field)
        nowrap_field = isinstance(field, (models.DateField, models.TimeField))

        numeric = choices is None and isinstance(field, (models.IntegerField, models.FloatField))

        def represent(result: Any) -> tuple[Any, bool]:
            value = read(result)
            if numeric and plain_ints and type(value) is int:
                return str(value), nowrap_field
            if isinstance(value, str) and value.strip() == "":
                value = ""
            if choices is not None:
                try:
                    return choices.get(value, empty), nowrap_field
                except TypeError:  # an unhashable value: Django's own path
                    pass
            return display_for_field(value, field, empty, avoid_link=link), nowrap_field

    checkbox = getattr(cl.model_admin, "action_checkbox_renderer", None)
    if field_name == "action_checkbox" and checkbox is not None and not link:
        # Rendered for the page at once (LargeTableAdmin), not through
        # represent() row by row.
        render = checkbox()
        return lambda result: f'<td class="action-checkbox">{render(result)}</td>'

    tag = ("th" if first else "td") if link else "td"
    base = " ".join(classes)
    # Not escaped, as Django does not escape them: field names and constants.
    opening = {False: f'<{tag} class="{base}">', True: f'<{tag} class="{base} nowrap">'}
    closing = f"</{tag}>"
    href = change_url_builder(cl) if link else None

    def cell(result: Any) -> str:
        try:
            shown, nowrap = represent(result)
        except ObjectDoesNotExist:
            shown, nowrap = default_empty, False
        if href is not None:
            shown = linked(cl, result, href(result), shown)
        return opening[nowrap] + as_html(shown) + closing

    return cell


def as_html(value: Any) -> str:
    """``conditional_escape``, without the lazy-argument wrapper around it
    that costs more than the escaping: cells are joined into a string at once."""
    if hasattr(value, "__html__"):
        return str(value.__html__())
    return html.escape(str(value))


def linked(cl: Any, result: Any, url: str | None, shown: Any) -> Any:
    if url is None:
        return shown
    popup = ""
    if cl.is_popup:
        key = str(cl.to_field) if cl.to_field else cl.lookup_opts.pk.attname
        popup = format_html(' data-popup-opener="{}"', result.serializable_value(key))
    return format_html('<a href="{}"{}>{}</a>', url, popup, shown)


def column_value(
    cl: Any, field_name: Any
) -> "tuple[models.Field[Any, Any] | None, Any, Callable[[Any], Any]] | None":
    """How ``lookup_field`` finds this column's value, decided once.

    ``(field, attr, read)`` for model fields, callables and admin methods;
    ``None`` for anything else (model attributes, properties, ``__str__``,
    related lookups), which is left to Django's per-cell code.
    """
    model_admin = cl.model_admin
    try:
        field = _get_non_gfk_field(cl.lookup_opts, field_name)
    except (FieldDoesNotExist, FieldIsAForeignKeyColumnName):
        if callable(field_name):
            return None, field_name, field_name
        if isinstance(field_name, str) and field_name != "__str__":
            attr = getattr(model_admin, field_name, None)
            if attr is not None:
                return None, attr, attr
        return None

    def read(result: Any) -> Any:
        return getattr(result, field_name)

    return field, None, read


def flat_choices(field: Any) -> dict[Any, Any] | None:
    if not getattr(field, "flatchoices", None):
        return None
    try:
        return dict(field.flatchoices)
    except TypeError:  # list-like choices: Django's own path handles them
        return None


def change_url_builder(cl: Any) -> Callable[[Any], str | None]:
    """The change URL of a row, with the list's filters preserved: reversed
    and merged once per page, then only the primary key changes."""
    try:
        pattern = add_preserved_filters(
            {"preserved_filters": cl.preserved_filters, "opts": cl.opts},
            cl.url_for_result(PlaceholderRow(cl.pk_attname)),
        )
    except NoReverseMatch:
        return lambda result: None
    before, found, after = pattern.partition(PK_PLACEHOLDER)
    pk_attname = cl.pk_attname

    def href(result: Any) -> str | None:
        key = str(quote(getattr(result, pk_attname)))
        if found and PLAIN_PK.fullmatch(key):
            return f"{before}{key}{after}"
        try:  # a key with characters reverse() would encode: Django's path
            url = cl.url_for_result(result)
        except NoReverseMatch:
            return None
        return add_preserved_filters(
            {"preserved_filters": cl.preserved_filters, "opts": cl.opts}, url
        )

    return href


class PlaceholderRow:
    """Stands in for a row in ``ChangeList.url_for_result``."""

    def __init__(self, pk_attname: str) -> None:
        setattr(self, pk_attname, PK_PLACEHOLDER)
