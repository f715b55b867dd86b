"""The admin's navigation sidebar: rendered once, then served from the cache,
and still right for every page, user and permission."""

import re

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

CONVERSATIONS = reverse("admin:conversations_conversation_changelist")
CUSTOMERS = reverse("admin:conversations_customer_changelist")
EVENTS = reverse("admin:webhooks_inboundevent_changelist")


def sidebar(response):
    html = response.content.decode()
    found = re.search(r'<nav class="sticky" id="nav-sidebar".*?</nav>', html, re.S)
    assert found, "the page has no navigation sidebar"
    return found.group(0)


def current_models(response):
    return re.findall(r'<tr class="model-(\w+) current-model', sidebar(response))


def listed_models(response):
    return set(re.findall(r'<tr class="model-(\w+)', sidebar(response)))


def rendered_app_list(response):
    return "admin/app_list.html" in [template.name for template in response.templates]


def staff_client(*permissions: str) -> tuple[Client, User]:
    user = User.objects.create_user("clerk", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=permissions))
    client = Client()
    client.force_login(user)
    return client, user


def test_a_second_page_reads_the_sidebar_from_the_cache(admin_client):
    first = admin_client.get(CONVERSATIONS)
    second = admin_client.get(CONVERSATIONS)

    assert rendered_app_list(first)
    assert not rendered_app_list(second)
    assert sidebar(second) == sidebar(first)


def test_each_page_marks_its_own_model_current(admin_client):
    admin_client.get(CONVERSATIONS)  # fills the cache for the conversations
    admin_client.get(CUSTOMERS)

    assert current_models(admin_client.get(CONVERSATIONS)) == ["conversation"]
    assert current_models(admin_client.get(CUSTOMERS)) == ["customer"]
    assert current_models(admin_client.get(EVENTS)) == ["inboundevent"]


def test_a_change_page_marks_its_model_as_the_changelist_does(admin_client):
    admin_client.get(EVENTS)
    endpoint_add = reverse("admin:webhooks_webhookendpoint_add")

    assert current_models(admin_client.get(endpoint_add)) == ["webhookendpoint"]


def test_staff_see_only_what_their_permissions_allow():
    client, _ = staff_client("view_conversation")

    assert listed_models(client.get(CONVERSATIONS)) == {"conversation"}


def test_a_permission_granted_shows_in_the_sidebar_at_once():
    client, user = staff_client("view_conversation")
    client.get(CONVERSATIONS)

    user.user_permissions.add(Permission.objects.get(codename="view_customer"))

    assert listed_models(client.get(CONVERSATIONS)) == {"conversation", "customer"}


def test_a_superuser_sidebar_is_not_shown_to_staff(admin_client):
    admin_client.get(CONVERSATIONS)  # a superuser's sidebar, cached
    client, _ = staff_client("view_conversation")

    assert listed_models(client.get(CONVERSATIONS)) == {"conversation"}
