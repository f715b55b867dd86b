"""No one in who should not be; no secret where it could leak."""

import io
import logging
import os
import secrets
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from django.contrib.auth.models import User
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.faults import free_port
from tests.processes import PROJECT_ROOT, wait_until
from tests.webhook_client import hmac_headers, post, standard_headers
from webhooks.models import InboundEvent, WebhookEndpoint

pytestmark = pytest.mark.django_db

HMAC_SECRET = "hmac-secret-" + "h" * 40
WHSEC = "whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA=="


def api_urls() -> list[str]:
    """Every data-API URL without parameters, whatever the API defines (read from
    the URLconf, so new endpoints are covered without editing this test)."""
    found: list[str] = []

    def walk(patterns: list, prefix: str) -> None:
        for pattern in patterns:
            # Routers give regex segments ("^advisers/$"): drop their anchors.
            route = prefix + str(pattern.pattern).removeprefix("^").removesuffix("$")
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and "<" not in route and "(?P" not in route:
                found.append("/" + route.replace("\\", ""))

    walk(get_resolver().url_patterns, "")
    # The data API; the OpenAPI schema and its Swagger UI (/api/schema/,
    # /api/docs/) describe endpoints only and are public by design.
    return sorted(url for url in found if url.startswith("/api/v1/"))


API_URLS = api_urls()


@pytest.fixture
def endpoint_with_secrets(make_endpoint):
    return make_endpoint(hmac_secrets=[HMAC_SECRET], standard_webhooks_secrets=[WHSEC])


@pytest.fixture
def nobody(client):
    """Logged in, active, but neither staff nor holding any permission."""
    user = User.objects.create_user("nobody", password="a-long-password-1")
    client.force_login(user)
    return client


# --- Access ----------------------------------------------------------------------


def test_the_admin_sends_anonymous_visitors_to_the_login_page(client):
    for url in ["/admin/", "/admin/conversations/conversation/", "/admin/webhooks/inboundevent/"]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


def test_the_admin_refuses_users_who_are_not_staff(nobody):
    response = nobody.get("/admin/conversations/conversation/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("url", API_URLS)
def test_the_api_refuses_anonymous_requests(client, url):
    assert client.get(url).status_code in (401, 403)


@pytest.mark.parametrize("url", API_URLS)
def test_the_api_refuses_users_without_staff_rights_or_permissions(nobody, url):
    assert nobody.get(url).status_code == 403


def test_admin_logins_are_locked_out_after_repeated_failures(client, settings):
    User.objects.create_superuser("admin", password="the-right-password-1")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = client.post("/admin/login/", {"username": "admin", "password": "guess"})
        assert response.status_code == 200  # the form again, with an error

    locked = client.post("/admin/login/", {"username": "admin", "password": "guess"})
    assert locked.status_code == 429
    # Even the right password is refused until the cool-off ends.
    right = client.post("/admin/login/", {"username": "admin", "password": "the-right-password-1"})
    assert right.status_code == 429
    assert "_auth_user_id" not in client.session


def test_a_successful_login_resets_the_failure_count(client, settings):
    User.objects.create_superuser("admin", password="the-right-password-1")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post("/admin/login/", {"username": "admin", "password": "guess"})
    good = {"username": "admin", "password": "the-right-password-1"}
    assert client.post("/admin/login/", good).status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert (
            client.post("/admin/login/", {"username": "admin", "password": "x"}).status_code == 200
        )


# --- Secrets ---------------------------------------------------------------------


def pages_a_staff_user_can_see(client, endpoint: WebhookEndpoint) -> dict[str, bytes]:
    event = InboundEvent.objects.get()
    urls = [
        reverse("admin:webhooks_webhookendpoint_changelist"),
        reverse("admin:webhooks_webhookendpoint_change", args=[endpoint.pk]),
        reverse("admin:webhooks_inboundevent_changelist"),
        reverse("admin:webhooks_inboundevent_change", args=[event.pk]),
        *API_URLS,
    ]
    pages = {}
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        pages[url] = b"".join(response) if response.streaming else response.content
    return pages


def test_secrets_never_appear_in_admin_pages_or_api_output(
    admin_client, endpoint_with_secrets, django_capture_on_commit_callbacks
):
    endpoint, token = endpoint_with_secrets
    body = b'{"eventType": "ThreadCreatedEvent", "customer": {"id": "c1"}, "timestamp": 1}'
    headers = {**hmac_headers(HMAC_SECRET, body), **standard_headers(WHSEC, body)}
    with django_capture_on_commit_callbacks(execute=True):
        assert post(admin_client, token, body, headers=headers).status_code == 202

    for url, page in pages_a_staff_user_can_see(admin_client, endpoint).items():
        for secret in (token, HMAC_SECRET, WHSEC, WHSEC.removeprefix("whsec_")):
            assert secret.encode() not in page, f"{secret[:8]}… shown on {url}"


@pytest.fixture
def console_output():
    """What the configured console handler (with its redaction filter) writes."""
    (handler,) = [h for h in logging.getLogger().handlers if h.get_name() == "console"]
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


def test_webhook_tokens_are_redacted_from_django_request_logs(
    client, endpoint_with_secrets, console_output
):
    _, token = endpoint_with_secrets
    wrong_token = secrets.token_urlsafe(32)

    post(client, token, b"{}")  # no signature: 401, logged by django.request
    post(client, wrong_token, b"{}")  # unknown endpoint: 401
    logging.getLogger("django.server").info('"POST /webhooks/closer/%s/ HTTP/1.1" 202 30', token)

    output = console_output.getvalue()
    assert "Unauthorized: /webhooks/closer/<redacted>/" in output
    assert '"POST /webhooks/closer/<redacted>/ HTTP/1.1" 202' in output
    assert token not in output and wrong_token not in output


def test_webhook_tokens_are_redacted_from_logs_of_the_url_without_its_slash(
    client, endpoint_with_secrets, console_output
):
    _, token = endpoint_with_secrets

    client.post(f"/webhooks/closer/{token}", b"{}", content_type="application/json")  # 401
    client.get(f"/webhooks/closer/{token}")  # 405

    output = console_output.getvalue()
    assert "Unauthorized: /webhooks/closer/<redacted>" in output
    assert "Method Not Allowed: /webhooks/closer/<redacted>" in output
    assert token not in output


@pytest.mark.slow
def test_webhook_tokens_are_redacted_from_the_gunicorn_access_log(tmp_path):
    port, token = free_port(), secrets.token_urlsafe(32)
    access_log = tmp_path / "access.log"
    server = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "closerarchive.wsgi",
            "--bind", f"127.0.0.1:{port}", "--workers", "1",
            "--access-logfile", str(access_log),
        ],
        cwd=PROJECT_ROOT,  # gunicorn reads ./gunicorn.conf.py from here
        env={**os.environ, "DATABASE_URL": "sqlite:///:memory:"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/webhooks/closer/{token}/?x=1", data=b"{}", method="POST"
        )

        def answered() -> bool:
            try:
                urllib.request.urlopen(request, timeout=5)
            except urllib.error.HTTPError:
                return True  # any HTTP answer: 415 here
            except OSError:
                return False
            return True

        wait_until(answered, timeout=30, what="gunicorn to answer")
        wait_until(lambda: access_log.read_text(), timeout=10, what="the access log line")
    finally:
        server.terminate()
        server.wait(timeout=20)
    line = access_log.read_text()
    assert "/webhooks/closer/<redacted>/" in line
    assert token not in line


# --- Production settings ---------------------------------------------------------

PRODUCTION_ENV = {
    "PRODUCTION": "1",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "archive.example.com",
    "BEHIND_TLS_PROXY": "1",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_production_settings_pass_check_deploy_without_a_warning():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.slow
def test_production_refuses_to_start_without_a_secret_key():
    result = manage("check", env={**PRODUCTION_ENV, "SECRET_KEY": ""})
    assert result.returncode != 0
    assert "SECRET_KEY must be set in production" in result.stderr
