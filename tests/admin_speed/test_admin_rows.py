"""admin_speed's changelist against Django's own code for the same list: the
rows rendered once per column (admin_speed.rows) are the HTML Django's
``items_for_result`` renders, cell for cell; the page, the result list and
the date hierarchy's choices are Django's."""

import pytest
from django.contrib import admin
from django.contrib.admin.sites import site
from django.contrib.admin.templatetags.admin_list import date_hierarchy, result_list, results
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.test import RequestFactory
from django.urls import resolve, reverse
from django.utils import timezone

from admin_speed.rows import column_cells, fast_results
from admin_speed.templatetags.admin_speed import archive_result_list, calendar_date_hierarchy
from conversations.admin import AdviserAdmin, ConversationAdmin, CustomerAdmin
from conversations.models import Adviser, Conversation, Customer
from tests.search_archive import BOB, BOT, archive_conversation

pytestmark = pytest.mark.django_db


@pytest.fixture
def archive():
    archive_conversation(
        "cust-jon",
        [("CUSTOMER", "Where is my <b>parcel</b>?")],
        adviser=BOB,
        first_name="Jon",
        last_name="Snow",
        random_name="Frosty & Wolf",
    )
    archive_conversation("cust-bot", adviser=BOT, with_created=False)
    archive_conversation("cust-open", closed=False)  # no adviser, no closing time


class EveryKindOfColumn(ConversationAdmin):
    """Columns of each kind the fast path handles: foreign keys (one empty),
    choices, date-times (one empty), a boolean, JSON, an integer, text, a
    callable, a boolean admin method, one with its own empty value and text
    that is sometimes blank."""

    list_display = [
        "status",
        "customer",
        "assignee",
        "opened_at",
        "closed_at",
        "created_event_missing",
        "visitor_context",
        "message_count",
        "preview",
        "closed_type",
        lambda conversation: f"<{conversation.pk}>",
        "has_adviser",
        "adviser_or_nothing",
        "adviser_email_or_blank",
    ]
    list_display_links = ["customer"]

    @admin.display(boolean=True)
    def has_adviser(self, conversation):
        return conversation.assignee_id is not None

    @admin.display(empty_value="(nobody)")
    def adviser_or_nothing(self, conversation):
        return conversation.assignee

    @admin.display(empty_value="(no email)")
    def adviser_email_or_blank(self, conversation):
        return conversation.assignee.email if conversation.assignee else "  "


def changelist(model_admin, admin_user, params=None):
    url = reverse(f"admin:{model_admin.opts.app_label}_{model_admin.opts.model_name}_changelist")
    request = RequestFactory().get(url, params or {})
    request.user = admin_user
    request.resolver_match = resolve(url)  # the changelist preserves its filters in links
    cl = model_admin.get_changelist_instance(request)
    cl.formset = None
    return cl


def django_rows(cl):
    return ["".join(row) for row in results(cl)]


def fast_rows(cl):
    return ["".join(row) for row in fast_results(cl)]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"q": "parcel"},
        {"status__exact": "closed", "o": "-3"},
        {"adviser_kind": "human", "opened_at__year": "the year of the first"},
    ],
)
def test_conversation_rows_are_the_html_django_renders(archive, admin_user, params):
    params = dict(params)
    if "opened_at__year" in params:
        params["opened_at__year"] = str(Conversation.objects.earliest("opened_at").opened_at.year)
    cl = changelist(site._registry[Conversation], admin_user, params)
    assert cl.result_list
    assert column_cells(cl) is not None
    assert fast_rows(cl) == django_rows(cl)


def test_the_row_link_keeps_the_list_filters(archive, admin_user):
    params = {"q": "parcel", "status__exact": "closed"}
    cl = changelist(site._registry[Conversation], admin_user, params)
    (row,) = fast_rows(cl)
    assert "/change/?_changelist_filters=q%3Dparcel%26status__exact%3Dclosed" in row
    assert fast_rows(cl) == django_rows(cl)


@pytest.mark.parametrize("params", [{}, {"_popup": "1", "_to_field": "id"}])
def test_every_kind_of_column_renders_as_django_renders_it(archive, admin_user, params):
    cl = changelist(EveryKindOfColumn(Conversation, site), admin_user, params)
    assert len(cl.result_list) == 3
    assert column_cells(cl) is not None  # the fast path, not the fallback
    assert fast_rows(cl) == django_rows(cl)


def test_numbers_with_thousand_separators_render_as_django_renders_them(
    archive, admin_user, settings
):
    settings.USE_THOUSAND_SEPARATOR = True
    Conversation.objects.update(message_count=1234567)
    cl = changelist(EveryKindOfColumn(Conversation, site), admin_user)
    rows = fast_rows(cl)
    assert "1,234,567" in rows[0]
    assert rows == django_rows(cl)


def test_without_links_rows_render_as_django_renders_them(archive, admin_user):
    model_admin = EveryKindOfColumn(Conversation, site)
    model_admin.list_display_links = None
    cl = changelist(model_admin, admin_user)
    assert fast_rows(cl) == django_rows(cl)


@pytest.mark.parametrize("admin_class", [CustomerAdmin, AdviserAdmin])
def test_columns_it_does_not_know_take_djangos_path(archive, admin_user, admin_class):
    # AdviserAdmin lists "__str__", a model attribute: the whole row is Django's.
    model = {CustomerAdmin: Customer, AdviserAdmin: Adviser}[admin_class]
    cl = changelist(admin_class(model, site), admin_user)
    assert cl.result_list
    assert fast_rows(cl) == django_rows(cl)


def test_a_primary_key_needing_quotes_gets_djangos_url(archive, admin_user):
    # Keys with characters the URL must encode are reversed row by row.
    cl = changelist(site._registry[Conversation], admin_user)
    row = cl.result_list[0]
    row.pk = row.id = "a/b c"
    assert fast_rows(cl)[0] == django_rows(cl)[0]
    assert "/a_2Fb%20c/change/" in fast_rows(cl)[0]


def test_the_action_checkbox_is_the_html_django_renders(archive):
    model_admin = site._registry[Conversation]
    for conversation in Conversation.objects.all():
        expected = admin.ModelAdmin.action_checkbox(model_admin, conversation)
        assert model_admin.action_checkbox(conversation) == expected


class DjangosConversationAdmin(ConversationAdmin):
    """The conversation admin with Django's own changelist and paginator."""

    def get_changelist(self, request, **kwargs):
        return ChangeList

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        return Paginator(queryset, per_page, orphans, allow_empty_first_page)


@pytest.mark.parametrize(
    "params",
    [{}, {"q": "parcel"}, {"status__exact": "closed", "o": "-3"}, {"p": "2"}, {"p": "2", "o": "1"}],
)
def test_the_changelist_lists_the_rows_django_lists(archive, admin_user, params):
    fast, djangos = (
        ConversationAdmin(Conversation, site),
        DjangosConversationAdmin(Conversation, site),
    )
    fast.list_per_page = djangos.list_per_page = 2  # three conversations: two pages
    cl, expected = changelist(fast, admin_user, params), changelist(djangos, admin_user, params)
    assert type(cl) is not ChangeList  # admin_speed's changelist, against Django's
    assert [row.pk for row in cl.result_list] == [row.pk for row in expected.result_list]
    assert (cl.result_count, cl.multi_page) == (expected.result_count, expected.multi_page)


def test_the_result_list_is_djangos_with_the_rows_as_one_string(archive, admin_user):
    cl = changelist(site._registry[Conversation], admin_user, {"o": "-2.1"})
    fast, expected = archive_result_list(cl), result_list(cl)
    rows = ["".join(row) for row in expected.pop("results")]
    assert ["".join(row) for row in fast.pop("results")] == rows
    assert fast.pop("rows_html") == "".join(f"<tr>{row}</tr>\n" for row in rows)
    assert fast == expected  # headers, sorting, hidden fields


def test_the_date_hierarchy_offers_every_date_django_offers(archive, admin_user):
    # Django offers only the dates with rows; the calendar every date from
    # the first opening to the last, so Django's are a part of its choices.
    first = Conversation.objects.earliest("opened_at")
    Conversation.objects.filter(pk=first.pk).update(opened_at=first.opened_at.replace(year=2021))
    opened = timezone.localtime(Conversation.objects.latest("opened_at").opened_at)
    year, month, day = str(opened.year), str(opened.month), str(opened.day)
    model_admin = site._registry[Conversation]
    levels = [
        {},
        {"opened_at__year": year},
        {"opened_at__year": year, "opened_at__month": month},
        {"opened_at__year": year, "opened_at__month": month, "opened_at__day": day},
    ]
    for params in levels:
        cl = changelist(model_admin, admin_user, params)
        fast, expected = calendar_date_hierarchy(cl), date_hierarchy(cl)
        assert (fast["show"], fast["back"]) == (expected["show"], expected["back"]), params
        assert expected["choices"], params
        for choice in expected["choices"]:
            assert choice in fast["choices"], params
        if len(params) == 3:  # one day: the same page as Django's
            assert fast == expected
