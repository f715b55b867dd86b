"""The page at ``/``: links to the admin, the API docs and the readiness
check, for anyone, with no archive data on it."""

import re

import pytest
from django.contrib.auth.models import User

from tests.api_support import closed_conversation

pytestmark = pytest.mark.django_db


def links_on(html: str) -> set[str]:
    return set(re.findall(r'href="([^"]+)"', html))


def test_the_landing_page_links_to_the_admin_the_api_docs_and_the_readiness_check(client):
    response = client.get("/")

    assert response.status_code == 200
    assert {"/admin/", "/api/docs/", "/api/schema/", "/health/ready"} <= links_on(
        response.content.decode()
    )


def test_the_landing_page_shows_no_archive_data_to_an_anonymous_visitor(client):
    closed_conversation("cust-jon", "2024-05-01T10:00:00", first_name="Jonathan", email="jon@x.io")

    html = client.get("/").content.decode()

    assert "Jonathan" not in html
    assert "jon@x.io" not in html
    assert "cust-jon" not in html


def test_the_admins_view_site_link_leads_to_the_landing_page(client):
    client.force_login(User.objects.create_superuser("admin", password="pw-for-the-test-1"))

    admin_index = client.get("/admin/").content.decode()
    view_site = re.search(r'<a href="([^"]+)">View site</a>', admin_index)

    assert view_site
    assert client.get(view_site.group(1)).status_code == 200
