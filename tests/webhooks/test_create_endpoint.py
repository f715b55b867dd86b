"""manage.py create_endpoint: prints the URL and new secrets once."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.webhook_client import as_body, hmac_headers, standard_headers
from webhooks.models import WebhookEndpoint, hash_token

pytestmark = pytest.mark.django_db


def create(*args: str) -> str:
    out = StringIO()
    call_command("create_endpoint", *args, stdout=out)
    return out.getvalue()


def test_json_output_has_exactly_the_documented_keys():
    result = json.loads(create("acme", "--json"))
    assert set(result) == {"name", "url", "token", "hmac_secret", "standard_webhooks_secret"}
    assert result["name"] == "acme"
    assert result["url"] == f"http://127.0.0.1:8000/webhooks/closer/{result['token']}/"
    assert result["hmac_secret"] is None and result["standard_webhooks_secret"] is None


def test_only_a_hash_of_the_token_is_stored():
    result = json.loads(create("acme", "--json"))
    endpoint = WebhookEndpoint.objects.get(name="acme")
    assert endpoint.token_hash == hash_token(result["token"])
    assert result["token"] not in json.dumps(list(WebhookEndpoint.objects.values()), default=str)


def test_the_printed_url_and_secrets_verify_a_signed_delivery(client, created_example):
    result = json.loads(create("acme", "--hmac", "--standard-webhooks", "--json"))
    assert result["standard_webhooks_secret"].startswith("whsec_")
    body = as_body(created_example)
    headers = {
        **hmac_headers(result["hmac_secret"], body),
        **standard_headers(result["standard_webhooks_secret"], body),
    }
    response = client.post(
        result["url"].removeprefix("http://127.0.0.1:8000"),
        body,
        content_type="application/json",
        headers=headers,
    )
    assert response.status_code == 202


def test_api_keys_are_kept_as_the_allow_list():
    create("acme", "--api-key", "k1", "--api-key", "k2")
    assert WebhookEndpoint.objects.get(name="acme").allowed_api_keys == ["k1", "k2"]


def test_the_human_output_shows_the_url_and_secret_once():
    output = create("acme", "--hmac")
    assert "/webhooks/closer/" in output
    assert "HMAC secret:" in output


def test_a_taken_name_is_a_clear_error():
    create("acme")
    with pytest.raises(CommandError, match="already exists"):
        create("acme")


def test_the_url_follows_the_base_url_given(settings):
    settings.PUBLIC_BASE_URL = ""

    result = json.loads(create("acme", "--base-url", "http://127.0.0.1:8123", "--json"))

    assert result["url"] == f"http://127.0.0.1:8123/webhooks/closer/{result['token']}/"


def test_an_explicit_public_base_url_wins_over_the_base_url_given(settings):
    settings.PUBLIC_BASE_URL = "https://archive.example.com"

    result = json.loads(create("acme", "--base-url", "http://127.0.0.1:8123", "--json"))

    assert result["url"].startswith("https://archive.example.com/webhooks/closer/")
