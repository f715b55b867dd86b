"""A paginator for tables too large to count on every page view."""

from functools import cached_property
from typing import Any

from django.core.paginator import Paginator
from django.db import connections


class LargeTablePaginator(Paginator):
    """Page numbers without a full ``COUNT(*)`` of a huge table.

    - Unfiltered, on PostgreSQL: the planner's row estimate
      (``pg_class.reltuples``, kept fresh by autovacuum) when it is above
      ``estimate_above``; below that an exact count is cheap.
    - Filtered or searched: an exact count that stops reading at
      ``count_limit`` rows; past it the page says "1000+" (twenty pages of
      fifty: past that, staff refine the search rather than page on).
    """

    estimate_above = 100_000
    count_limit = 1_000

    count_is_estimate = False
    count_is_lower_bound = False

    @cached_property
    def count(self) -> int:
        queryset: Any = self.object_list
        if not queryset.query.where:
            estimate = table_row_estimate(queryset)
            if estimate is not None and estimate > self.estimate_above:
                self.count_is_estimate = True
                return estimate
        counted: int = queryset.order_by()[: self.count_limit + 1].count()
        if counted > self.count_limit:
            self.count_is_lower_bound = True
            return self.count_limit
        return counted


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
