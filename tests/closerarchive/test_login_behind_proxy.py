"""The login lockout (django-axes) behind reverse proxies: the client's
address comes from X-Forwarded-For, as many entries from the right as
TRUSTED_PROXY_COUNT says, so clients behind one proxy are locked out apart."""

import os
import subprocess
import sys

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from tests.processes import PROJECT_ROOT
from tests.settings_from_env import settings_from_env

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.2"  # every request arrives from the proxy
RIGHT = {"username": "admin", "password": "the-right-password-1"}
WRONG = {"username": "admin", "password": "guess"}
CLIENT_SETTINGS = (
    "AXES_IPWARE_META_PRECEDENCE_ORDER",
    "AXES_IPWARE_PROXY_COUNT",
    "AXES_IPWARE_PROXY_ORDER",
    "IPWARE_STRICT",
)


@pytest.fixture
def admin_user(db):
    return User.objects.create_superuser(RIGHT["username"], password=RIGHT["password"])


@pytest.fixture
def proxies(monkeypatch, settings):
    """Apply the client-address settings that TRUSTED_PROXY_COUNT=N makes."""

    def trust(count: int) -> None:
        made = settings_from_env(monkeypatch, TRUSTED_PROXY_COUNT=str(count))
        for name in CLIENT_SETTINGS:
            if name in made:
                setattr(settings, name, made[name])

    return trust


def through_proxy(forwarded_for: str) -> Client:
    """A browser whose requests the proxy forwards, appending its address."""
    return Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded_for)


def lock_out(browser: Client, failure_limit: int) -> None:
    for _ in range(failure_limit - 1):
        assert browser.post("/admin/login/", WRONG).status_code == 200
    assert browser.post("/admin/login/", WRONG).status_code == 429


def test_behind_a_proxy_a_locked_out_client_does_not_lock_out_another(
    admin_user, proxies, settings
):
    proxies(1)
    attacker, colleague = through_proxy("198.51.100.7"), through_proxy("203.0.113.9")

    lock_out(attacker, settings.AXES_FAILURE_LIMIT)

    assert attacker.post("/admin/login/", RIGHT).status_code == 429
    assert colleague.post("/admin/login/", RIGHT).status_code == 302


def test_behind_a_proxy_addresses_a_client_adds_to_x_forwarded_for_are_ignored(
    admin_user, proxies, settings
):
    proxies(1)
    for n in range(settings.AXES_FAILURE_LIMIT):
        # The client sends its own X-Forwarded-For; the proxy appends the real address.
        browser = through_proxy(f"192.0.2.{n}, 198.51.100.7")
        browser.post("/admin/login/", WRONG)

    assert through_proxy("192.0.2.99, 198.51.100.7").post("/admin/login/", RIGHT).status_code == 429
    assert through_proxy("198.51.100.7").post("/admin/login/", RIGHT).status_code == 429


def test_behind_two_proxies_the_client_is_second_from_the_right(admin_user, proxies, settings):
    proxies(2)
    # The outer proxy saw the client, the inner one saw the outer proxy (10.0.0.1).
    lock_out(through_proxy("198.51.100.7, 10.0.0.1"), settings.AXES_FAILURE_LIMIT)

    assert through_proxy("198.51.100.7, 10.0.0.1").post("/admin/login/", RIGHT).status_code == 429
    assert through_proxy("203.0.113.9, 10.0.0.1").post("/admin/login/", RIGHT).status_code == 302


def test_without_trusted_proxies_x_forwarded_for_is_ignored(admin_user, proxies, settings):
    proxies(0)  # the default: the address is REMOTE_ADDR
    lock_out(through_proxy("198.51.100.7"), settings.AXES_FAILURE_LIMIT)

    assert through_proxy("203.0.113.9").post("/admin/login/", RIGHT).status_code == 429


def test_a_negative_proxy_count_stops_start_up(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="TRUSTED_PROXY_COUNT"):
        settings_from_env(monkeypatch, TRUSTED_PROXY_COUNT="-1")


@pytest.mark.slow
def test_manage_py_commands_print_no_axes_banner():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=PROJECT_ROOT,
        env=os.environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "System check identified no issues" in result.stdout
    assert "AXES" not in result.stdout + result.stderr
