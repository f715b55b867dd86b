"""Replaces `Paginator.count`; pinned by tests/conversations/test_admin_conversations.py.

A changelist page counts its rows without ``COUNT(*)`` over the whole table,
and a search runs once per page view, not once to count and again for the
rows (docs/benchmarks.md, Admin search).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

from django.core.paginator import Page, Paginator
from django.db import connections, transaction

from .date_windows import newest_first_ids, table_size_and_range, windowed_ordering


class LargeTablePaginator(Paginator):
    """Page numbers without a full ``COUNT(*)`` of a huge table.

    - Unfiltered, on PostgreSQL: the planner's row estimate
      (``pg_class.reltuples``, kept fresh by autovacuum) when it is above
      ``estimate_above``; below that counting is cheap.
    - Filtered or searched: the ids of the first ``count_limit`` + 1 matches,
      in the list's order, in one query. Their number is the count (past the
      limit the page says "1000+": twenty pages of fifty, after which staff
      refine the search rather than page on), and each page then loads its
      rows by primary key.
    """

    estimate_above = 100_000
    count_limit = 1_000
    # Plan the id list without PostgreSQL's parallel workers (see serial_plan).
    serial_id_list = True
    # A date field the list is ordered by, newest first: on a table of more
    # than window_above rows (PostgreSQL's estimate), its id list is then
    # found in date windows (admin_speed.date_windows). None: one query.
    window_field: str | None = None
    window_above = 100_000

    count_is_estimate = False
    count_is_lower_bound = False
    _ids: list[Any] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pages: dict[int, Page] = {}

    @cached_property
    def count(self) -> int:
        queryset: Any = self.object_list
        if not queryset.query.where:
            estimate = table_row_estimate(queryset)
            if estimate is not None and estimate > self.estimate_above:
                self.count_is_estimate = True
                return estimate
        windows = self.date_windows(queryset)
        with serial_plan(queryset.db, enabled=self.serial_id_list):
            if windows is None:
                self._ids = list(queryset.values_list("pk", flat=True)[: self.count_limit + 1])
            else:
                self._ids = newest_first_ids(
                    queryset, field=windows[0], limit=self.count_limit + 1, bounds=windows[1:]
                )
        if len(self._ids) > self.count_limit:
            self.count_is_lower_bound = True
            self._ids = self._ids[: self.count_limit]
        return len(self._ids)

    def date_windows(self, queryset: Any) -> tuple[str, Any, Any] | None:
        """The field and the table's oldest and newest values of it, when the
        id list is to be found in date windows; None for one query."""
        field = self.window_field
        if (
            field is None
            or not queryset.query.where  # unfiltered: the first ids are the index's first
            or connections[queryset.db].vendor != "postgresql"
            or not windowed_ordering(queryset, field)
        ):
            return None
        size, oldest, newest = table_size_and_range(queryset, field)
        return (field, oldest, newest) if size > self.window_above else None

    def page(self, number: Any) -> Page:
        number = self.validate_number(number)
        if self._ids is None:
            return super().page(number)
        # Loaded once: the changelist asks for its page twice (see
        # LargeTableChangeList.get_results).
        if number not in self._pages:
            start = (number - 1) * self.per_page
            ids = self._ids[start : start + self.per_page]
            rows = {row.pk: row for row in rows_by_id(self.object_list, ids)}
            self._pages[number] = Page([rows[pk] for pk in ids if pk in rows], number, self)
        return self._pages[number]


def rows_by_id(queryset: Any, ids: list[Any]) -> Any:
    """The rows of ``ids``, loaded as ``queryset`` loads them (its
    select_related, prefetches and deferred fields) but without its filters:
    the ids already answer them."""
    rows = queryset.model._default_manager.filter(pk__in=ids)
    rows.query.select_related = queryset.query.select_related
    rows.query.deferred_loading = queryset.query.deferred_loading
    return rows.prefetch_related(*queryset._prefetch_related_lookups)


@contextmanager
def serial_plan(using: str, *, enabled: bool = True) -> Iterator[None]:
    """Queries in this block are planned without parallel workers (PostgreSQL).

    The id list of a search or filter is index work on a few thousand rows
    at most; PostgreSQL still plans parallel workers for it once the estimate
    crosses its thresholds, and on a small, busy web host starting them costs
    more than the lookups (docs/benchmarks.md, Admin search). ``SET LOCAL``
    ends with the transaction, so no other query of the request is affected.
    """
    connection = connections[using]
    if not enabled or connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(using=using, savepoint=False):
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        yield


def table_row_estimate(queryset: Any) -> int | None:
    """PostgreSQL's estimate of the rows in the queryset's table, if it has one."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
            [queryset.model._meta.db_table],
        )
        row = cursor.fetchone()
    # -1 means never analysed: no estimate.
    return int(row[0]) if row and row[0] >= 0 else None
