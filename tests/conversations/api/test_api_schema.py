"""The OpenAPI schema, Swagger UI, and schemathesis against our own schema."""

import pytest
import schemathesis
import yaml
from django.core import signals
from django.core.cache import cache
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.validation import validate_schema
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from tests.api_support import closed_conversation, open_conversation, superuser

pytestmark = pytest.mark.django_db

PATHS = [
    "/api/v1/conversations/",
    "/api/v1/conversations/{id}/",
    "/api/v1/messages/",
    "/api/v1/messages/{id}/",
    "/api/v1/customers/",
    "/api/v1/customers/{id}/",
    "/api/v1/advisers/",
    "/api/v1/advisers/{id}/",
    "/api/v1/inbound-events/",
    "/api/v1/inbound-events/{id}/",
    "/api/v1/deletions/",
    "/api/v1/export/conversations.ndjson",
    "/api/v1/export/messages.csv",
    "/api/v1/insights/",
    "/api/v1/insights/volume/",
    "/api/v1/insights/durations/",
    "/api/v1/insights/advisers/",
    "/api/v1/insights/handling/",
    "/api/v1/insights/heatmap/",
]
CONVERSATION_FILTERS = {
    "customer",
    "customer_email",
    "customer_phone",
    "customer_name",
    "adviser",
    "adviser_email",
    "status",
    "closed_type",
    "bot_adviser",
    "opened_after",
    "opened_before",
    "closed_after",
    "closed_before",
    "updated_since",
    "q",
}


@pytest.fixture
def openapi():
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_the_schema_is_valid_openapi_3(openapi):
    validate_schema(openapi)
    assert openapi["openapi"].startswith("3.")


def test_the_schema_lists_every_endpoint_read_only(openapi):
    assert set(openapi["paths"]) == set(PATHS)
    assert {method for path in openapi["paths"].values() for method in path} == {"get"}


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/conversations/",
        "/api/v1/export/conversations.ndjson",
        "/api/v1/export/messages.csv",
    ],
)
def test_the_list_and_the_exports_document_the_same_filters(openapi, path):
    names = {parameter["name"] for parameter in openapi["paths"][path]["get"]["parameters"]}

    assert names >= CONVERSATION_FILTERS


def test_the_exports_document_their_media_types_and_no_pagination(openapi):
    ndjson = openapi["paths"]["/api/v1/export/conversations.ndjson"]["get"]
    csv = openapi["paths"]["/api/v1/export/messages.csv"]["get"]

    assert list(ndjson["responses"]["200"]["content"]) == ["application/x-ndjson"]
    assert list(csv["responses"]["200"]["content"]) == ["text/csv"]
    for operation in (ndjson, csv):
        assert not {"cursor", "page_size", "ordering"} & {
            p["name"] for p in operation["parameters"]
        }


def test_the_list_documents_cursor_pagination_and_orderings(openapi):
    parameters = {
        p["name"]: p for p in openapi["paths"]["/api/v1/conversations/"]["get"]["parameters"]
    }

    assert {"cursor", "page_size"} <= set(parameters)
    assert set(parameters["ordering"]["schema"]["enum"]) == {
        "opened_at",
        "-opened_at",
        "updated_at",
        "-updated_at",
        "id",
        "-id",
    }


def test_swagger_ui_is_served_from_local_static_files():
    response = APIClient().get("/api/docs/")
    html = response.content.decode()

    assert response.status_code == 200
    assert "drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn" not in html.lower()
    assert "/api/schema/" in html


# --- schemathesis -----------------------------------------------------------


@pytest.fixture
def api_schema():
    # The real WSGI handler closes the database connection after each request;
    # Django's own test client unhooks that too, or the test's transaction dies.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture
def archive_and_token():
    cache.clear()
    closed_conversation("c-1", "2024-05-01T10:00:00", opened_at="2024-05-01T09:00:00")
    closed_conversation("c-2", "2024-06-01T10:00:00", adviser_is_bot=True)
    open_conversation("c-3", "2024-07-01T10:00:00")
    return f"Token {Token.objects.create(user=superuser()).key}"


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_generated_request_gets_a_server_error(case, archive_and_token):
    case.call_and_validate(
        headers={"Authorization": archive_and_token},
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
    )


def test_the_schema_documents_bearer_tokens_beside_token(openapi):
    schemes = openapi["components"]["securitySchemes"]

    assert schemes["bearerAuth"]["type"] == "http"
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    assert "tokenAuth" in schemes
    security = openapi["paths"]["/api/v1/conversations/"]["get"]["security"]
    assert {"bearerAuth": []} in security
    assert {"tokenAuth": []} in security
