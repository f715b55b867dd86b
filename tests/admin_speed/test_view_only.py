"""Pages that only show rows: a superuser gets no add, change or delete."""

import pytest
from django.contrib.admin.sites import site
from django.urls import reverse

from admin_speed.view_only import ViewOnly

pytestmark = pytest.mark.django_db

VIEW_ONLY_MODELS = {
    "conversations.customer",
    "conversations.adviser",
    "conversations.conversation",
    "conversations.conversationevent",
    "conversations.conversationmetrics",
    "audit.accessrecord",
    "webhooks.inboundevent",
}


def view_only_admins():
    return {
        model._meta.label_lower: model_admin
        for model, model_admin in site._registry.items()
        if isinstance(model_admin, ViewOnly)
    }


def test_the_archive_the_inbox_and_the_access_log_are_view_only():
    assert set(view_only_admins()) == VIEW_ONLY_MODELS


@pytest.mark.parametrize("label", sorted(VIEW_ONLY_MODELS))
def test_a_superuser_cannot_open_the_add_page(admin_client, label):
    app_label, model_name = label.split(".")
    response = admin_client.get(reverse(f"admin:{app_label}_{model_name}_add"))
    assert response.status_code == 403


@pytest.mark.parametrize("label", sorted(VIEW_ONLY_MODELS))
def test_no_permission_to_change_or_delete_is_granted(rf, admin_user, label):
    request = rf.get("/admin/")
    request.user = admin_user
    model_admin = view_only_admins()[label]
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
