"""Replaces ``bulk_create`` on large PostgreSQL batches with COPY into a staging table.

tests/backfill/test_backfill.py (the COPY and ORM test) pins both to the same archive.

Django's ``bulk_create`` binds every value as a parameter; with psycopg's
client-side binding that quoting runs in Python and, at backfill volumes,
costs more than the database's own work. COPY's row encoding is done in C,
and in the binary format: no escaping of text, no hex for bytea (a backfill
stages hundreds of megabytes of raw bodies), nothing for the server to parse.
Callers COPY their rows into a temporary table here and then move them with
one ``INSERT .. SELECT`` that can say ``ON CONFLICT`` and ``RETURNING``.

Only used on PostgreSQL and only for large batches: a webhook (a batch of
one) and SQLite keep the ORM path.
"""

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection

# From this many rows a batch is written by COPY (measured: below it the
# extra statements cost more than the parameter binding they save).
COPY_THRESHOLD = 500


def use_copy(row_count: int) -> bool:
    return connection.vendor == "postgresql" and row_count >= COPY_THRESHOLD


def stage_rows(
    *, stage: str, columns: Sequence[tuple[str, str]], rows: Iterable[Sequence[Any]]
) -> None:
    """Fill the temporary table ``stage`` (``columns``: name and SQL type) with ``rows``.

    Values are Python values of the column's type (a jsonb column takes the
    decoded value, not JSON text).

    The table is created once per connection and emptied at every commit
    (ON COMMIT DELETE ROWS) and before every use (several batches may share
    one transaction), so it never leaks rows from one batch into another.
    """
    definition = ", ".join(f"{name} {sql_type}" for name, sql_type in columns)
    names = ", ".join(name for name, _ in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ({definition}) ON COMMIT DELETE ROWS"
        )
        cursor.execute(f"TRUNCATE {stage}")
        with cursor.cursor.copy(f"COPY {stage} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types([sql_type for _, sql_type in columns])
            for row in rows:
                copy.write_row(row)
