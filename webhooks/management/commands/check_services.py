"""Is every service the production shape needs answering? For `make up`
(before it migrates and starts the stack) and for deploy scripts.

PostgreSQL (DATABASE_URL), the Celery broker (CELERY_BROKER_URL) and, when
set, the shared cache (CACHE_URL) are each tried once, with the settings'
short connect timeouts, and every one that does not answer is named with
its address (never a password) and the setting to fix. Exit status 1 then.
"""

from typing import Any

import psycopg
from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import OperationalError, connection
from kombu.utils.url import maybe_sanitize_url
from psycopg import sql


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


class Command(BaseCommand):
    help = (
        "Check that PostgreSQL, the Celery broker and the cache answer; "
        "exit 1 naming each one that does not."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--create-database",
            action="store_true",
            help="create DATABASE_URL's database when the server answers but it does not exist",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        problems = [
            problem
            for problem in (
                self._database_problem(create=options["create_database"]),
                self._broker_problem(),
                self._cache_problem(),
            )
            if problem
        ]
        if problems:
            heading = "not answering (start the service, or fix the setting named):"
            raise CommandError("\n".join([heading, *problems]))

    def _database_problem(self, *, create: bool) -> str | None:
        db = connection.settings_dict
        if connection.vendor != "postgresql":
            return "  DATABASE_URL is not PostgreSQL: set it to postgres://user@host:5432/name"
        where = f"PostgreSQL at {db['HOST'] or 'localhost'}:{db['PORT'] or 5432}"
        try:
            connection.ensure_connection()
        except OperationalError as error:
            if not (create and f'database "{db["NAME"]}" does not exist' in str(error)):
                return f"  {where} [DATABASE_URL]: {_first_line(error)}"
            self._create_database()
            self.stdout.write(f"Created the database {db['NAME']} on {where}.")
        self.stdout.write(f"{where}, database {db['NAME']}: answers.")
        return None

    def _create_database(self) -> None:
        params = {**connection.get_connection_params(), "dbname": "postgres"}
        params.pop("prepare_threshold", None)
        with psycopg.connect(**params, autocommit=True) as admin:
            name = sql.Identifier(connection.settings_dict["NAME"])
            admin.execute(sql.SQL("CREATE DATABASE {}").format(name))

    def _broker_problem(self) -> str | None:
        if not settings.CELERY_BROKER_URL:
            return "  CELERY_BROKER_URL is not set: set it to redis://host:6379/0"
        # maybe_sanitize_url masks a password in the URL.
        where = f"Celery broker at {maybe_sanitize_url(settings.CELERY_BROKER_URL)}"
        broker = current_app.connection_for_write()
        try:
            with broker:
                broker.ensure_connection(max_retries=0)
        except Exception as error:
            return f"  {where} [CELERY_BROKER_URL]: {_first_line(error)}"
        self.stdout.write(f"{where}: answers.")
        return None

    def _cache_problem(self) -> str | None:
        if not settings.CACHE_URL:
            return None
        where = f"Cache at {maybe_sanitize_url(settings.CACHE_URL)}"
        try:
            cache.get("check_services")
        except Exception as error:
            return f"  {where} [CACHE_URL]: {_first_line(error)}"
        self.stdout.write(f"{where}: answers.")
        return None
