"""The webhook URL answers every method and both spellings of its path in JSON:
a GET is a 405 that says what to do, and a POST without the trailing slash is
received like one with it (never a redirect a client would follow as a GET)."""

import json

import pytest

from tests.webhook_client import as_body, webhook_url
from webhooks.models import InboundEvent

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_a_method_other_than_post_is_a_json_405_allowing_post(client, token, method):
    response = client.generic(method, webhook_url(token))

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response["Content-Type"] == "application/json"
    assert "POST" in response.json()["error"]


def test_a_get_without_the_trailing_slash_is_the_same_json_405(client, token):
    response = client.get(webhook_url(token).rstrip("/"))

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert "error" in response.json()


def test_a_post_without_the_trailing_slash_is_received_like_one_with_it(
    client, token, created_example
):
    response = client.generic(
        "POST",
        webhook_url(token).rstrip("/"),
        as_body(created_example),
        content_type="application/json",
    )

    assert response.status_code == 202
    assert response.json() == {"status": "accepted", "id": InboundEvent.objects.get().pk}


def test_an_unknown_token_without_the_trailing_slash_is_a_json_401(client):
    response = client.generic(
        "POST", "/webhooks/closer/no-such-token", b"{}", content_type="application/json"
    )

    assert response.status_code == 401
    assert json.loads(response.content)["error"]
