"""The admin's navigation sidebar, rendered once and then read from the cache.

Django renders the sidebar (every app and model the user may see, with its
links) on every admin page: about a tenth of a conversation changelist's
time (docs/benchmarks.md). What it shows depends only on the registered
models, the user's permissions, the language and which app and model the
page belongs to (the one it marks current), so ``admin/base_site.html``
caches the rendered block under a key made of exactly those, for five
minutes: a deploy that changes what a model admin offers (an "Add" link
taken away in code, say) shows in every sidebar within that time.
"""

import hashlib
from functools import cache
from typing import Any

import django
from django import template
from django.contrib import admin
from django.urls import reverse
from django.utils.translation import get_language

register = template.Library()


@register.simple_tag(takes_context=True)
def nav_sidebar_cache_key(context: Any) -> str:
    """What the sidebar of this page depends on, as one string for ``{% cache %}``."""
    request = context["request"]
    user = request.user
    # Superusers may do everything: one sidebar for all of them. Anyone else
    # sees what their permissions allow (read from the user's permission
    # cache, which the admin's own checks have filled): a permission granted
    # or taken away changes the key, so no one sees a stale sidebar.
    permissions = "superuser" if user.is_superuser else ",".join(sorted(user.get_all_permissions()))
    return "|".join(
        [registry_signature(), get_language() or "", section(request.path), permissions]
    )


def section(path: str) -> str:
    """The app and model a page is under (``conversations/conversation``): the
    sidebar marks that app and model current, the same on all of its pages."""
    index = reverse("admin:index")
    relative = path.removeprefix(index) if path.startswith(index) else path
    return "/".join(relative.split("/")[:2])


@cache
def registry_signature() -> str:
    """The registered models and Django's version: a deploy that changes
    either (a model added, renamed, or a new admin template) gets new keys."""
    # AdminSite has no public way to list its models; _registry is the dict
    # Django's own get_app_list reads.
    models = sorted(
        f"{model._meta.label}:{model._meta.verbose_name_plural}" for model in admin.site._registry
    )
    return hashlib.sha256(f"{django.get_version()}|{','.join(models)}".encode()).hexdigest()[:16]
