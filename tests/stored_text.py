"""What the whole database holds, table by table: for the erasure tests.

Every table in the database (the project's and Django's own: the admin's
history, sessions, users), read whole: each row as PostgreSQL's text of the
row (every text, JSON and search-vector column in it) and each binary column
as its bytes.
"""

import hashlib

from django.db import connection


def _tables() -> list[str]:
    return sorted(connection.introspection.table_names(include_views=False))


def _binary_columns(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = %s AND data_type = 'bytea'",
            [table],
        )
        return [row[0] for row in cursor.fetchall()]


def tables_mentioning(*needles: str) -> dict[str, list[str]]:
    """The tables with a row that contains any of ``needles`` (ignoring
    case) in any column, with the needles found there."""
    found: dict[str, list[str]] = {}
    with connection.cursor() as cursor:
        for table in _tables():
            columns = [
                "t::text",
                *(
                    f"encode(t.{connection.ops.quote_name(column)}, 'escape')"
                    for column in _binary_columns(table)
                ),
            ]
            tests = " OR ".join(f"strpos(lower({column}), lower(needle)) > 0" for column in columns)
            # Table and column names from the catalogue, no values: the
            # needles are a bound parameter.
            sql = (
                "SELECT coalesce(array_agg(needle ORDER BY needle), '{}') FROM unnest(%s::text[])"  # noqa: S608
                f" AS needle WHERE EXISTS (SELECT 1 FROM {connection.ops.quote_name(table)} AS t"
                f" WHERE {tests})"
            )
            cursor.execute(sql, [list(needles)])
            if hits := cursor.fetchone()[0]:
                found[table] = hits
    return found


def database_fingerprint() -> dict[str, tuple[int, str]]:
    """Each table's row count and a digest of all of its rows' contents."""
    fingerprint = {}
    with connection.cursor() as cursor:
        for table in _tables():
            cursor.execute(
                f"SELECT count(*), coalesce(string_agg(t::text, '|' ORDER BY t::text), '')"  # noqa: S608
                f" FROM {connection.ops.quote_name(table)} AS t"
            )
            count, rows = cursor.fetchone()
            fingerprint[table] = (count, hashlib.sha256(rows.encode()).hexdigest())
    return fingerprint
