"""Erasing a customer leaves the reads of their conversations recorded, but
no search term that names them."""

import pytest
from django.urls import reverse

from audit.models import AccessRecord
from audit.services import ERASED, forget_in_access_records
from tests.api_support import superuser, token_client

pytestmark = pytest.mark.django_db


def test_an_erased_customers_email_leaves_the_recorded_query_strings(jon):
    api = token_client(superuser())
    api.get(reverse("v1:conversation-list"), {"customer_email": "jon@example.com"})
    api.get(reverse("v1:conversation-list"), {"customer": "cust-ann"})

    changed = forget_in_access_records(values=["JON@example.com", "cust-jon", ""])

    assert changed == 1
    assert sorted(AccessRecord.objects.values_list("query", flat=True)) == [
        "customer=cust-ann",
        f"customer_email={ERASED}",
    ]
