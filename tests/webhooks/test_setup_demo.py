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
