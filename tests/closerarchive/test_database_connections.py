"""Persistent database connections and their health checks, from the environment.

What a kept connection does when PostgreSQL restarts under it is
tests/webhooks/test_database_restart.py; this is which settings keep one.
"""

import secrets

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.settings_from_env import settings_from_env

PRODUCTION = {"PRODUCTION": "1", "SECRET_KEY": secrets.token_urlsafe(50)}


def database(monkeypatch, **env: str) -> tuple[int, bool]:
    db = settings_from_env(monkeypatch, **env)["DATABASES"]["default"]
    return db["CONN_MAX_AGE"], db["CONN_HEALTH_CHECKS"]


def test_production_keeps_connections_for_a_minute_with_health_checks(monkeypatch):
    assert database(monkeypatch, **PRODUCTION) == (60, True)


def test_outside_production_each_request_has_its_own_connection(monkeypatch):
    assert database(monkeypatch) == (0, False)


def test_kept_connections_are_health_checked_outside_production_too(monkeypatch):
    assert database(monkeypatch, DATABASE_CONN_MAX_AGE="30") == (30, True)


def test_production_can_turn_persistent_connections_off(monkeypatch):
    assert database(monkeypatch, **PRODUCTION, DATABASE_CONN_MAX_AGE="0") == (0, False)


def test_production_can_turn_health_checks_off(monkeypatch):
    assert database(monkeypatch, **PRODUCTION, DATABASE_CONN_HEALTH_CHECKS="0") == (60, False)


@pytest.mark.parametrize(
    ("name", "value"),
    [("DATABASE_CONN_MAX_AGE", "-1"), ("DATABASE_CONN_MAX_AGE", "a minute"),
     ("DATABASE_CONN_HEALTH_CHECKS", "maybe")],
)  # fmt: skip
def test_a_bad_connection_setting_stops_start_up(monkeypatch, name, value):
    with pytest.raises(ImproperlyConfigured, match=name):
        database(monkeypatch, **{name: value})
