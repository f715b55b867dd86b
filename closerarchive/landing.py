"""The page at ``/``: where the admin, the API docs and the health check are.

The admin's "View site" leads here. It shows links only, never data, so it
needs no login and is the same for everyone.
"""

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_safe


@require_safe
def landing(request: HttpRequest) -> HttpResponse:
    links = [
        (reverse("admin:index"), "Admin", "search and read the archived conversations (staff)"),
        (reverse("api-docs"), "API docs", "the REST API in Swagger UI"),
        (reverse("api-schema"), "OpenAPI schema", "the API's schema, for clients"),
        (reverse("health-ready"), "Readiness check", "database, migrations, inbox, cache, broker"),
    ]
    return render(
        request,
        "closerarchive/landing.html",
        {"links": links, "site_header": admin.site.site_header, "title": "closer-archive"},
    )
