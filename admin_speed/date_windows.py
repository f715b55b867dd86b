"""Replaces the one query of a filtered list's first ids with newest-first date windows.

Pinned to the plain query by tests/admin_speed/test_date_windows.py.

A changelist page of a search or filter needs the first ``limit`` ids in the
list's order (newest first), not every match. PostgreSQL answers the plain
query with one of two plans: a bitmap scan of every match and a sort, whose
cost grows with the matches (a transcript word in one conversation of
twenty-five costs 20,000 heap visits on a ten-million-message archive), or
a walk of the date index filtering row by row, whose cost grows with the
rows skipped (a word that is rare, or missing from recent months). Asked
for the newest rows first, in date windows that widen until ``limit`` ids
are found, each query's matches are bounded by its window, whichever plan
PostgreSQL picks for it, and the windows of a rare word (each a few index
probes) stop at the oldest row.

The windows are disjoint and cover the whole range, in descending order, so
their rows put end to end are exactly the plain query's, in its order.
"""

from datetime import datetime, timedelta
from typing import Any

from django.db import connections
from django.db.models import Max, Min, QuerySet

# The first window: this share of the table's date range (at least a day).
FIRST_WINDOW_SHARE = 1 / 256
MIN_WINDOW = timedelta(days=1)
# The next window's width, as a multiple of the range searched so far.
MIN_GROWTH, MAX_GROWTH = 0.25, 16


def windowed_ordering(queryset: QuerySet[Any], field: str) -> bool:
    """True when the list is ordered by ``field`` descending first (the
    windows' order) and ``field`` cannot be null (every row is in a window)."""
    ordering = queryset.query.order_by or queryset.model._meta.ordering
    if not ordering or ordering[0] != f"-{field}":
        return False
    return not queryset.model._meta.get_field(field).null


def table_size_and_range(queryset: QuerySet[Any], field: str) -> tuple[int, Any, Any]:
    """PostgreSQL's estimate of the table's rows (``pg_class.reltuples``, -1
    before the first ANALYZE) and the oldest and newest ``field`` of the
    whole table (two probes of an index on it), in one query."""
    meta = queryset.model._meta
    database = connections[queryset.db]
    column = database.ops.quote_name(meta.get_field(field).column)
    table = database.ops.quote_name(meta.db_table)
    sql = f"""
        SELECT (SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass),
               (SELECT min({column}) FROM {table}), (SELECT max({column}) FROM {table})
    """  # noqa: S608 -- names only, no values
    with database.cursor() as cursor:
        cursor.execute(sql, [meta.db_table])
        size, oldest, newest = cursor.fetchone()
    return size, oldest, newest


def newest_first_ids(
    queryset: QuerySet[Any], *, field: str, limit: int, bounds: tuple[Any, Any] | None = None
) -> list[Any]:
    """The primary keys of the first ``limit`` rows of ``queryset`` (ordered
    by ``-field`` first: see ``windowed_ordering``), found window by window
    between the table's oldest and newest values of ``field``, ``bounds``
    (read when not given). Any bounds give the same rows: the first window has
    no upper bound and the last none below; they only set the windows' widths."""
    if bounds is None:
        table = queryset.model._default_manager.using(queryset.db).aggregate(
            oldest=Min(field), newest=Max(field)
        )
        bounds = table["oldest"], table["newest"]
    oldest, newest = bounds
    if oldest is None or newest is None:
        return []
    ids: list[Any] = []
    width = max((newest - oldest) * FIRST_WINDOW_SHARE, MIN_WINDOW)
    upper: datetime | None = None  # exclusive; None: no upper bound (the first window)
    while True:
        lower = (newest if upper is None else upper) - width
        window = queryset
        if upper is not None:
            window = window.filter(**{f"{field}__lt": upper})
        last = lower <= oldest
        if not last:  # the last window has no lower bound: it holds every row left
            window = window.filter(**{f"{field}__gte": lower})
        found = list(window.values_list("pk", flat=True)[: limit - len(ids)])
        ids.extend(found)
        if len(ids) >= limit or last:
            return ids
        upper = lower
        # The next window: as wide as the matches so far say the rest needs,
        # with half as much again to spare.
        growth = 1.5 * (limit - len(ids)) / len(ids) if ids else MAX_GROWTH
        width = (newest - upper) * min(max(growth, MIN_GROWTH), MAX_GROWTH)
