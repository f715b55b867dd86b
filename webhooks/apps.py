from contextlib import suppress

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        resolve_psycopg_dumpers()


def resolve_psycopg_dumpers() -> None:
    """Work around a psycopg < 3.3.2 race (psycopg/psycopg#1230).

    psycopg registers some dumpers under class *names* and swaps in the class
    on first use, in a dict that all connections share; two threads doing
    that at once make one fail with "cannot adapt type 'IPv4Address'". Under
    gunicorn's threads that turned the first webhooks of a process into 503s
    (bench/ingest.py saw it). Doing the swaps here, before any connection
    exists, leaves nothing to race on.
    """
    try:
        import psycopg
        from psycopg.adapt import PyFormat
    except ImportError:  # SQLite-only installs
        return
    import datetime
    import decimal
    import ipaddress
    import uuid

    classes = (
        datetime.date, datetime.datetime, datetime.time, datetime.timedelta,
        decimal.Decimal, uuid.UUID,
        ipaddress.IPv4Address, ipaddress.IPv6Address, ipaddress.IPv4Interface,
        ipaddress.IPv6Interface, ipaddress.IPv4Network, ipaddress.IPv6Network,
    )  # fmt: skip
    for cls in classes:
        for dump_format in PyFormat:
            with suppress(psycopg.ProgrammingError):
                psycopg.adapters.get_dumper(cls, dump_format)
