"""DATABASE_REPLICA_URL's settings: a second PostgreSQL database and the
router, or a loud error; without it nothing changes."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.settings_from_env import settings_from_env

PRIMARY = "postgres://postgres@127.0.0.1:5432/closer_archive"
REPLICA = "postgres://postgres@127.0.0.1:5433/closer_archive"


def test_without_a_replica_there_is_one_database_and_no_router(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = settings_from_env(monkeypatch, DATABASE_URL=PRIMARY)
    assert set(made["DATABASES"]) == {"default"}
    assert "DATABASE_ROUTERS" not in made


def test_a_replica_url_adds_the_replica_database_and_its_router(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = settings_from_env(monkeypatch, DATABASE_URL=PRIMARY, DATABASE_REPLICA_URL=REPLICA)
    assert made["DATABASES"]["replica"]["PORT"] == 5433
    assert made["DATABASES"]["replica"]["OPTIONS"] == made["DATABASES"]["default"]["OPTIONS"]
    assert made["DATABASE_ROUTERS"] == ["closerarchive.replica.ReplicaRouter"]


def test_a_replica_of_the_embedded_sqlite_database_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ImproperlyConfigured, match="DATABASE_REPLICA_URL needs PostgreSQL"):
        settings_from_env(monkeypatch, DATABASE_URL="sqlite:///x.db", DATABASE_REPLICA_URL=REPLICA)


def test_a_pin_of_zero_seconds_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ImproperlyConfigured, match="REPLICA_PIN_SECONDS"):
        settings_from_env(monkeypatch, DATABASE_URL=PRIMARY, REPLICA_PIN_SECONDS="0")
