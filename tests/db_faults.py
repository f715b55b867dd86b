"""Real database faults for tests: a trigger that runs before each INSERT
into a table, created and dropped around a block (no mock of the database)."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

REFUSE = "RAISE EXCEPTION 'refusing writes';"


@contextmanager
def before_insert(table: str, body: str = REFUSE, *, name: str = "test_fault") -> Iterator[None]:
    """Run ``body`` (PL/pgSQL; ``NEW`` is the row) before every INSERT into
    ``table``; the row is inserted when ``body`` raises nothing. Dropped
    afterwards, also when the test commits (a transactional test, a live
    server on its own connection)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN {body} RETURN NEW; END $$;
            CREATE TRIGGER {name} BEFORE INSERT ON {table}
            FOR EACH ROW EXECUTE FUNCTION {name}();
            """
        )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER {name} ON {table}; DROP FUNCTION {name}();")


def refuse_closer_id(closer_id: str) -> str:
    """A ``before_insert`` body refusing only the row of this Closer id."""
    return f"IF NEW.closer_id = '{closer_id}' THEN RAISE EXCEPTION 'refusing {closer_id}'; END IF;"
