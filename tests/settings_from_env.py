"""The project's settings as a given environment makes them, read apart from
the running ones: the settings module is executed again into a dict."""

import runpy
from typing import Any

import pytest

import closerarchive.settings

# Variables that change the settings these tests look at: unset unless given.
READ = (
    "PRODUCTION",
    "SECRET_KEY",
    "DEBUG",
    "DATABASE_CONN_MAX_AGE",
    "DATABASE_CONN_HEALTH_CHECKS",
    "TRUSTED_PROXY_COUNT",
    "DATABASE_REPLICA_URL",
    "REPLICA_PIN_SECONDS",
)


def settings_from_env(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    for name in READ:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # A name inside the package, for the module's relative imports.
    return runpy.run_path(closerarchive.settings.__file__, run_name="closerarchive.settings_probe")
