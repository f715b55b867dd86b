"""The access log in the admin: read only by holders of its permission,
and append-only for everyone, superusers included."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import AccessAction, AccessRecord

pytestmark = pytest.mark.django_db

LOG = reverse("admin:audit_accessrecord_changelist")


def staff_client(client, *, may_read_the_log: bool):
    user = User.objects.create_user("clerk", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_conversation"))
    if may_read_the_log:
        user.user_permissions.add(Permission.objects.get(codename="read_access_log"))
    client.force_login(user)
    return client


def a_record(**fields) -> AccessRecord:
    fields.setdefault("action", AccessAction.API_DETAIL)
    record = AccessRecord.objects.create(username=fields.pop("username", "reader"), **fields)
    return record


def listed(response) -> set[int]:
    return {record.pk for record in response.context["cl"].result_list}


def test_staff_without_the_permission_cannot_read_the_log(client):
    a_record()
    clerk = staff_client(client, may_read_the_log=False)

    assert clerk.get(LOG).status_code == 403
    assert "Access records" not in clerk.get(reverse("admin:index")).content.decode()


def test_staff_with_the_permission_read_the_log(client):
    record = a_record(path="/api/v1/conversations/7/")
    clerk = staff_client(client, may_read_the_log=True)

    response = clerk.get(LOG)

    assert response.status_code == 200
    assert listed(response) == {record.pk}
    assert (
        clerk.get(reverse("admin:audit_accessrecord_change", args=[record.pk])).status_code == 200
    )


def test_nobody_adds_a_record_in_the_admin(admin_client):
    assert admin_client.get(reverse("admin:audit_accessrecord_add")).status_code == 403


def test_nobody_changes_a_record_in_the_admin(admin_client):
    record = a_record(username="reader")

    response = admin_client.post(
        reverse("admin:audit_accessrecord_change", args=[record.pk]),
        {"username": "someone-else", "action": AccessAction.API_LIST, "path": "/"},
    )

    assert response.status_code == 403
    record.refresh_from_db()
    assert record.username == "reader"


def test_nobody_deletes_a_record_in_the_admin(admin_client):
    record = a_record()

    page = admin_client.post(
        reverse("admin:audit_accessrecord_delete", args=[record.pk]), {"post": "yes"}
    )
    action = admin_client.post(
        LOG, {"action": "delete_selected", "_selected_action": [record.pk], "post": "yes"}
    )

    assert page.status_code == 403
    assert action.status_code == 200  # the changelist again: no such action
    assert AccessRecord.objects.filter(pk=record.pk).exists()


def test_the_log_is_filtered_by_action(admin_client):
    detail = a_record(action=AccessAction.API_DETAIL)
    a_record(action=AccessAction.API_EXPORT_CSV)

    assert listed(admin_client.get(LOG, {"action__exact": AccessAction.API_DETAIL})) == {detail.pk}


def test_the_log_is_filtered_by_user(admin_client, admin_user):
    mine = a_record(user=admin_user, username="admin")
    a_record(username="gone")

    assert listed(admin_client.get(LOG, {"user__id__exact": admin_user.pk})) == {mine.pk}


def test_the_log_is_filtered_by_date(admin_client):
    today = a_record()
    a_record(at=timezone.now() - timedelta(days=40))

    response = admin_client.get(LOG)
    [past_7_days] = [
        choice["query_string"]
        for spec in response.context["cl"].filter_specs
        for choice in spec.choices(response.context["cl"])
        if choice["display"] == "Past 7 days"
    ]

    assert listed(admin_client.get(f"{LOG}{past_7_days}")) == {today.pk}


def test_the_log_is_searched_by_conversation_id(admin_client):
    read_7 = a_record()
    read_7.conversations.create(conversation_id=7)
    a_record().conversations.create(conversation_id=70)

    assert listed(admin_client.get(LOG, {"q": "7"})) == {read_7.pk}
    assert listed(admin_client.get(LOG, {"q": "not a number"})) == set()


def test_the_log_is_listed_without_counting_it(admin_client):
    for _ in range(3):
        a_record()
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(LOG, {"action": AccessAction.API_DETAIL})
    assert response.status_code == 200
    assert len(listed(response)) == 3
    assert not [q for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
