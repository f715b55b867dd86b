import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test import override_settings

from tests.db_faults import before_insert
from webhooks.models import WebhookEndpoint

FIXTURES = Path(__file__).parent / "fixtures" / "closer"


@pytest.fixture(autouse=True, scope="session")
def _require_postgres(django_db_setup: Any, django_db_blocker: Any) -> None:
    """The archive is specified on PostgreSQL; refuse to pass on anything else."""
    if connection.vendor != "postgresql":
        pytest.exit("the test suite needs PostgreSQL: set DATABASE_URL (see README)", returncode=2)


@pytest.fixture(autouse=True, scope="session")
def _static_files_from_the_apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Pages render with plain static names, served from the apps' folders.

    The manifest storage of production needs a `collectstatic` run first,
    and the live server finds files in the apps' folders, not by hashed name.
    tests/closerarchive/test_static_files.py checks the production storage,
    under gunicorn, after a real `collectstatic`.
    """
    plain = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    # An existing, empty STATIC_ROOT: WhiteNoise warns about a missing one.
    static_root = tmp_path_factory.mktemp("static_root")
    with override_settings(
        STORAGES={**settings.STORAGES, "staticfiles": plain}, STATIC_ROOT=static_root
    ):
        yield


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    """Each test starts with an empty cache (the admin's cached filter
    choices, throttle counters): no test sees another's."""
    cache.clear()


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> dict[str, Any]:
    return json.loads(fixture_bytes(name))


@pytest.fixture
def created_example() -> dict[str, Any]:
    return fixture_json("conversation.created.json")


@pytest.fixture
def closed_example() -> dict[str, Any]:
    return fixture_json("conversation.closed.json")


@pytest.fixture
def make_endpoint(db: Any) -> Callable[..., tuple[WebhookEndpoint, str]]:
    def make(name: str = "closer", **fields: Any) -> tuple[WebhookEndpoint, str]:
        endpoint = WebhookEndpoint(name=name, **fields)
        token = endpoint.set_token()
        endpoint.save()
        return endpoint, token

    return make


@pytest.fixture
def failing_archive(db: Any) -> Iterator[None]:
    """A real database fault: inserting any customer raises an error."""
    with before_insert("conversations_customer", "RAISE EXCEPTION 'archive is refusing writes';"):
        yield


@pytest.fixture
def fresh_planner_statistics(django_db_setup: Any) -> Iterator[None]:
    """For tests that ANALYZE (or erase, which does): afterwards the tables
    are as never analysed again.

    ANALYZE writes its estimates into pg_class in place, outside the test's
    transaction, so the rollback keeps them: estimates of a test's handful of
    rows then make every later test plan for tiny tables (a hypothesis test
    that grows thousands of rows in its transaction went from 15 s to past
    its ten-minute timeout). The reset runs on a connection of its own, after
    the test's transaction has ended.
    """
    yield
    db = connection.settings_dict
    with psycopg.connect(
        dbname=db["NAME"],
        user=db["USER"],
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        autocommit=True,
    ) as own:
        own.execute(
            "UPDATE pg_class SET reltuples = -1, relpages = 0"
            " WHERE relnamespace = 'public'::regnamespace AND reltuples >= 0"
        )
