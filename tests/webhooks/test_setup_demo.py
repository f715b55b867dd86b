"""`make run`'s setup_demo: the admin login it prints works at once."""

import io
import re

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def setup_demo() -> str:
    """Run the command; return the password it printed."""
    out = io.StringIO()
    call_command("setup_demo", stdout=out)
    found = re.search(r"Login: +admin / (\S+)", out.getvalue())
    assert found, out.getvalue()
    return found.group(1)


def test_the_printed_password_logs_in_even_after_the_admin_was_locked_out(client, settings):
    User.objects.create_superuser("admin", password="forgotten-password-1")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/admin/login/", {"username": "admin", "password": "guess"})
    assert client.post("/admin/login/", {"username": "admin", "password": "x"}).status_code == 429

    password = setup_demo()

    response = client.post("/admin/login/", {"username": "admin", "password": password})
    assert response.status_code == 302


def printed_urls(*args: str) -> list[str]:
    out = io.StringIO()
    call_command("setup_demo", *args, stdout=out)
    return re.findall(r"https?://[^\s/]+", out.getvalue())


def test_every_printed_url_follows_the_port_make_run_serves_on(settings):
    settings.PUBLIC_BASE_URL = ""  # as when the environment does not set it

    bases = printed_urls("--port", "8123")

    assert len(bases) >= 3  # the admin, the webhook and the curl command
    assert set(bases) == {"http://127.0.0.1:8123"}


def test_make_ups_webhook_urls_follow_the_webhook_port(settings):
    settings.PUBLIC_BASE_URL = ""

    bases = printed_urls("--port", "8123", "--webhook-port", "8124", "--stack")

    assert set(bases) == {"http://127.0.0.1:8123", "http://127.0.0.1:8124"}


def test_an_explicit_public_base_url_wins_over_the_port(settings):
    settings.PUBLIC_BASE_URL = "https://archive.example.com"

    bases = printed_urls("--port", "8123")

    assert set(bases) == {"https://archive.example.com"}
