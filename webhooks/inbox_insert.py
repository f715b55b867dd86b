"""Replaces ``InboundEvent(...).save()`` on the receive path with one prepared INSERT.

tests/webhooks/test_receive_statement.py pins it to the ORM's row. Building the
instance and preparing each field through the ORM cost more CPU than the
statement itself, a duplicate raised IntegrityError inside a savepoint, and
Django's client-side binding inlined the body as a hex literal that
PostgreSQL parsed and planned afresh each time (docs/benchmarks.md, Ingest).
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper

from .models import InboundEvent

try:
    # Defined by Django only with psycopg 3 (the stubs do not know it).
    from django.db.backends.postgresql.base import (  # type: ignore[attr-defined]
        ServerBindingCursor,
    )
except (ImportError, ImproperlyConfigured):  # SQLite-only installs, psycopg2
    ServerBindingCursor = None


def insert_unless_duplicate(db: BaseDatabaseWrapper, **columns: Any) -> int | None:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id: the new event's id, or
    None if its dedupe key was taken.

    ``columns`` are every column but the id, with values the caller made
    storable (``connection.ops``, or text the database parses): a new column
    without a default fails here, loudly, in the tests. The dedupe
    constraints are the table's only unique keys besides the id, so
    "conflict" means "duplicate". In autocommit the statement is its own
    transaction: one round trip, committed when it returns.
    """
    with _insert_cursor(db) as cursor:
        cursor.execute(_insert_sql(db.vendor, tuple(columns)), list(columns.values()))
        row = cursor.fetchone()
    return None if row is None else int(row[0])


@cache
def _insert_sql(vendor: str, columns: tuple[str, ...]) -> str:
    """The INSERT for these columns, built once per process (``vendor``
    only keys the cache: quoting differs between databases)."""
    quote = connection.ops.quote_name
    table, pk_column = quote(InboundEvent._meta.db_table), quote(InboundEvent._meta.pk.column)
    names, placeholders = ", ".join(map(quote, columns)), ", ".join(["%s"] * len(columns))
    # Names from our own code; every value is a parameter.
    return f"INSERT INTO {table} ({names}) VALUES ({placeholders}) ON CONFLICT DO NOTHING RETURNING {pk_column}"  # noqa: E501, S608


# This thread's server-binding cursor, kept from one webhook to the next.
_insert_cursors = threading.local()


@contextmanager
def _insert_cursor(db: BaseDatabaseWrapper) -> Iterator[CursorWrapper]:
    """A Django cursor whose values travel apart from the SQL, on PostgreSQL.

    With server-side binding the body is sent as binary, and once the
    connection has run the statement a few times
    (``DATABASE_PREPARED_STATEMENTS``) it is a prepared statement. The psycopg
    cursor is kept for the thread's next webhook on the same connection (a
    new one looks up a dumper per value again), wrapped in Django's cursor
    wrapper for the same error translation and query logging as any query.

    Like ``db.cursor()``, it runs Django's health check first
    (``CONN_HEALTH_CHECKS``: a ``SELECT 1`` at most once per request, and
    only on a connection kept from an earlier one): a connection that
    PostgreSQL dropped while the process was idle (a restart, a failover) is
    replaced before the INSERT instead of failing it with a 503.
    """
    if ServerBindingCursor is None or db.vendor != "postgresql":
        with db.cursor() as cursor:
            yield cursor
        return
    db.close_if_health_check_failed()
    db.ensure_connection()
    db.validate_thread_sharing()
    raw = getattr(_insert_cursors, "cursor", None)
    if raw is None or raw.closed or raw.connection is not db.connection:
        # First use, or a new connection: a cursor of the old one is dropped.
        with db.wrap_database_errors:
            raw = _insert_cursors.cursor = ServerBindingCursor(db.connection)
    make = db.make_debug_cursor if db.queries_logged else db.make_cursor
    yield make(raw)  # not closed: kept for the next webhook
