"""Who may read the REST API: tokens, sessions, view permissions, throttling."""

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import override_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from conversations.models import Adviser, Conversation, Customer, Message
from tests.api_support import (
    closed_conversation,
    superuser,
    token_client,
    user_with_view_permissions,
)
from webhooks.models import InboundEvent

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    ("/api/v1/conversations/", Conversation),
    ("/api/v1/messages/", Message),
    ("/api/v1/customers/", Customer),
    ("/api/v1/advisers/", Adviser),
    ("/api/v1/export/conversations.ndjson", Conversation),
]


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    cache.clear()
    yield
    cache.clear()


@pytest.mark.parametrize(
    "url",
    [url for url, _ in ENDPOINTS] + ["/api/v1/export/messages.csv", "/api/v1/inbound-events/"],
)
def test_anonymous_requests_get_401_with_a_token_challenge(url):
    response = APIClient().get(url)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize("url", [url for url, _ in ENDPOINTS])
def test_a_user_without_the_view_permission_gets_403(url):
    client = token_client(User.objects.create_user("nobody"))

    assert client.get(url).status_code == 403


@pytest.mark.parametrize(("url", "model"), ENDPOINTS)
def test_the_models_view_permission_is_enough_to_read(url, model):
    client = token_client(user_with_view_permissions(model))

    assert client.get(url).status_code == 200


def test_an_invalid_token_gets_401():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    assert client.get("/api/v1/conversations/").status_code == 401


def test_a_logged_in_session_can_read():
    client = APIClient()
    client.force_login(user_with_view_permissions(Conversation))

    assert client.get("/api/v1/conversations/").status_code == 200


def test_a_superuser_reads_everything():
    client = token_client(superuser())

    for url in [url for url, _ in ENDPOINTS] + ["/api/v1/inbound-events/"]:
        assert client.get(url).status_code == 200, url


def test_the_csv_export_also_needs_the_message_view_permission():
    conversations_only = token_client(user_with_view_permissions(Conversation))
    both = token_client(user_with_view_permissions(Conversation, Message, username="both"))

    assert conversations_only.get("/api/v1/export/messages.csv").status_code == 403
    assert both.get("/api/v1/export/messages.csv").status_code == 200


def test_inbound_events_need_staff_as_well_as_the_view_permission():
    not_staff = token_client(user_with_view_permissions(InboundEvent))
    staff = token_client(user_with_view_permissions(InboundEvent, username="staff", is_staff=True))

    assert not_staff.get("/api/v1/inbound-events/").status_code == 403
    assert staff.get("/api/v1/inbound-events/").status_code == 200


def test_the_detail_needs_the_permission_too():
    conversation = closed_conversation("c-1", "2024-05-01T10:00:00")
    client = token_client(User.objects.create_user("nobody"))

    assert client.get(f"/api/v1/conversations/{conversation.pk}/").status_code == 403


def test_writes_are_not_allowed_and_change_nothing():
    conversation = closed_conversation("c-1", "2024-05-01T10:00:00")
    client = token_client(superuser())
    url = f"/api/v1/conversations/{conversation.pk}/"

    assert client.delete(url).status_code == 405
    assert client.patch(url, {"status": "open"}, format="json").status_code == 405
    assert client.post("/api/v1/conversations/", {}, format="json").status_code == 405
    assert Conversation.objects.get().status == "closed"


@override_settings(
    REST_FRAMEWORK={
        "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.TokenAuthentication"],
        "DEFAULT_PERMISSION_CLASSES": ["conversations.api.access.ViewModelPermissions"],
        "DEFAULT_THROTTLE_CLASSES": ["conversations.api.access.AuthenticatedUserThrottle"],
        "DEFAULT_THROTTLE_RATES": {"user": "2/minute"},
    }
)
def test_an_authenticated_user_is_throttled_past_the_rate():
    client = token_client(user_with_view_permissions(Conversation))

    statuses = [client.get("/api/v1/conversations/").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


@override_settings(
    REST_FRAMEWORK={
        "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.TokenAuthentication"],
        "DEFAULT_PERMISSION_CLASSES": ["conversations.api.access.ViewModelPermissions"],
        "DEFAULT_THROTTLE_CLASSES": ["conversations.api.access.AuthenticatedUserThrottle"],
        "DEFAULT_THROTTLE_RATES": {"user": "2/minute"},
    }
)
def test_throttling_counts_each_user_separately():
    first = token_client(user_with_view_permissions(Conversation, username="first"))
    second = token_client(user_with_view_permissions(Conversation, username="second"))
    for _ in range(2):
        first.get("/api/v1/conversations/")

    assert first.get("/api/v1/conversations/").status_code == 429
    assert second.get("/api/v1/conversations/").status_code == 200


def test_a_token_sent_as_bearer_reads_like_one_sent_as_token():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {Token.objects.create(user=superuser()).key}")

    response = client.get("/api/v1/conversations/")

    assert response.status_code == 200


def test_an_invalid_bearer_token_gets_401():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-real-token")

    assert client.get("/api/v1/conversations/").status_code == 401
