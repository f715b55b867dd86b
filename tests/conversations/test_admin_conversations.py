"""Django admin for the archive: the changelist, its search and filters, the
transcript page, people pages, read-only rules and the export actions."""

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.contrib.admin.sites import site
from django.core.paginator import Paginator
from django.db import connection
from django.urls import reverse
from django.utils.text import Truncator

from admin_speed.paginators import LargeTablePaginator
from conversations.admin_display import short_preview
from conversations.models import Conversation
from tests.search_archive import BOB, BOT, ZOFIA, archive_conversation, archive_jon_snow

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:conversations_conversation_changelist")


def change_url(conversation):
    return reverse("admin:conversations_conversation_change", args=[conversation.pk])


def listed(response):
    """The conversation ids on a changelist page."""
    return {row.pk for row in response.context["cl"].result_list}


@pytest.fixture
def staff(admin_client):
    return admin_client


@pytest.fixture
def archive():
    return {
        "jon": archive_jon_snow(),
        "lukasz": archive_conversation(
            "cust-lukasz",
            [("CUSTOMER", "Chcę złożyć reklamację")],
            adviser=ZOFIA,
            closed_type="abandoned",
            first_name="Łukasz",
            last_name="Żółkiewski",
            email="lukasz@przyklad.pl",
        ),
        "bot": archive_conversation(
            "cust-anon", [("CUSTOMER", "Is anyone there?")], adviser=BOT, with_created=False
        ),
        "open": archive_conversation("cust-open", closed=False, first_name="Olga"),
    }


# --- Changelist --------------------------------------------------------------------


def test_changelist_shows_customer_adviser_status_counts_and_first_customer_message(staff, archive):
    response = staff.get(CHANGELIST)
    assert response.status_code == 200
    page = response.content.decode()
    for column in ["Customer", "Adviser", "Opened at", "Status", "Messages"]:
        assert column in page
    assert "Closed (solved)" in page  # the closed type beside the status
    assert "Jon Snow (Frosty Wolf)" in page
    assert "Bob Holmes" in page
    assert "Closer Bot (bot)" in page
    assert "Where is my parcel?" in page
    assert listed(response) == {c.pk for c in archive.values()}
    jon = archive["jon"]
    assert (
        f'<input type="checkbox" name="_selected_action" value="{jon.pk}" class="action-select" '
        f'aria-label="Select this object for an action - {jon}">'
    ) in page


def test_changelist_shows_the_opening_time_with_its_time_zone_named(staff, archive):
    page = staff.get(CHANGELIST).content.decode()
    opened = archive["jon"].opened_at.strftime("%Y-%m-%d %H:%M")  # UTC, the project's time zone
    assert f'<td class="field-opened">{opened} UTC</td>' in page


def test_changelist_times_follow_the_current_time_zone(staff, archive, settings):
    settings.TIME_ZONE = "Europe/Warsaw"
    page = staff.get(CHANGELIST).content.decode()
    opened = archive["jon"].opened_at.astimezone(ZoneInfo("Europe/Warsaw"))
    assert f'<td class="field-opened">{opened:%Y-%m-%d %H:%M} CET</td>' in page


def test_changelist_sorts_by_the_opening_time_column(staff, archive):
    oldest_first = staff.get(CHANGELIST, {"o": "3"})  # the third column: opened at
    opened = [row.opened_at for row in oldest_first.context["cl"].result_list]
    assert opened == sorted(opened)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Where is my parcel?",
        "x" * 80,
        "x" * 81,
        "Zamo\u0301wienie " * 10,  # combining accents: NFC-normalised, counted once
        "a\u0301" * 80,
    ],
)
def test_the_preview_is_cut_as_truncator_cuts_it(text):
    assert short_preview(text) == Truncator(text).chars(80)


@pytest.mark.parametrize(
    ("query", "who"),
    [
        ("Jon", "jon"),
        ("Frosty Wolf", "jon"),
        ("winterfell", "jon"),
        ("600 100", "jon"),
        ("cust-jon", "jon"),
        ("Holmes", "jon"),
        ("bob@closer.app", "jon"),
        ("parcel", "jon"),
        ("reklamacje", "lukasz"),
        ("lukasz", "lukasz"),
    ],
)
def test_changelist_search_finds(staff, archive, query, who):
    response = staff.get(CHANGELIST, {"q": query})
    assert listed(response) == {archive[who].pk}


@pytest.mark.parametrize(
    ("params", "who"),
    [
        ({"status__exact": "open"}, {"open"}),
        ({"status__exact": "closed"}, {"jon", "lukasz", "bot"}),
        ({"closed_type": "abandoned"}, {"lukasz"}),
        ({"adviser_kind": "bot"}, {"bot"}),
        ({"adviser_kind": "human"}, {"jon", "lukasz"}),
        ({"adviser_kind": "none"}, {"open"}),
        ({"created_event_missing__exact": "1"}, {"bot"}),
    ],
)
def test_changelist_filter(staff, archive, params, who):
    response = staff.get(CHANGELIST, params)
    assert listed(response) == {archive[name].pk for name in who}


def test_adviser_filter_shows_only_the_chosen_adviser_and_their_conversations(staff, archive):
    zofia = archive["lukasz"].assignee
    response = staff.get(CHANGELIST, {"adviser": zofia.pk})
    assert listed(response) == {archive["lukasz"].pk}
    assert f'<option value="{zofia.pk}" selected>Zofia Wąsowska</option>' in (
        response.content.decode()
    )


def test_customer_filter_shows_that_customers_conversations(staff, archive):
    response = staff.get(CHANGELIST, {"customer": archive["jon"].customer_id})
    assert listed(response) == {archive["jon"].pk}


def test_a_filter_and_a_search_combine(staff, archive):
    response = staff.get(CHANGELIST, {"q": "closer.app", "adviser_kind": "human"})
    assert listed(response) == {archive["jon"].pk, archive["lukasz"].pk}


def test_date_hierarchy_narrows_to_the_opening_day(staff, archive):
    opened = archive["jon"].opened_at
    response = staff.get(
        CHANGELIST,
        {
            "opened_at__year": opened.year,
            "opened_at__month": opened.month,
            "opened_at__day": opened.day,
        },
    )
    assert archive["jon"].pk in listed(response)
    assert len(listed(response)) < len(archive)


def test_date_hierarchy_offers_only_the_years_with_conversations(staff):
    first = archive_conversation("cust-early")
    Conversation.objects.filter(pk=first.pk).update(opened_at=first.opened_at.replace(year=2019))
    late = archive_conversation("cust-late")
    page = staff.get(CHANGELIST).content.decode()
    assert "?opened_at__year=2019" in page
    assert f"?opened_at__year={late.opened_at.year}" in page
    for empty_year in range(2020, late.opened_at.year):
        assert f"?opened_at__year={empty_year}" not in page


def test_date_hierarchy_years_follow_the_time_zone(staff, settings):
    # 2022-12-31 23:30 UTC is New Year's Day 2023 in Warsaw.
    conversation = archive_conversation("cust-new-year")
    new_year_eve = datetime(2022, 12, 31, 23, 30, tzinfo=UTC)
    Conversation.objects.filter(pk=conversation.pk).update(opened_at=new_year_eve)
    assert "?opened_at__year=2022" in staff.get(CHANGELIST).content.decode()
    settings.TIME_ZONE = "Europe/Warsaw"
    page = staff.get(CHANGELIST).content.decode()
    assert "?opened_at__year=2023" in page
    assert "?opened_at__year=2022" not in page


def test_date_hierarchy_offers_the_months_of_a_year_and_the_days_of_a_month(staff, archive):
    year_page = staff.get(CHANGELIST, {"opened_at__year": 2024}).content.decode()
    assert "opened_at__month=12" in year_page
    month_page = staff.get(
        CHANGELIST, {"opened_at__year": 2024, "opened_at__month": 2}
    ).content.decode()
    assert "opened_at__day=29" in month_page  # a leap year
    assert "opened_at__day=30" not in month_page


def test_a_malformed_filter_value_is_refused_without_an_error_page(staff, archive):
    response = staff.get(CHANGELIST, {"adviser": "not-a-number"})
    assert response.status_code == 302
    assert "e=1" in response["Location"]


def test_a_search_with_a_nul_character_gets_a_clear_message_not_an_error_page(staff, archive):
    response = staff.get(CHANGELIST, {"q": "parcel\x00"})
    assert response.status_code == 200
    assert "Null characters are not allowed." in response.content.decode()


def test_the_adviser_autocomplete_finds_advisers_by_name_fragment(staff, archive):
    response = staff.get(
        reverse("admin:autocomplete"),
        {
            "app_label": "conversations",
            "model_name": "conversation",
            "field_name": "assignee",
            "term": "wasow",
        },
    )
    assert [item["text"] for item in response.json()["results"]] == ["Zofia Wąsowska"]


def test_changelist_queries_do_not_grow_with_the_rows_shown(
    staff, archive, django_assert_max_num_queries
):
    for n in range(40):
        archive_conversation(f"cust-bulk-{n}", [("CUSTOMER", f"parcel number {n}")], adviser=BOB)
    # session, user, closed types, the advisers the search names, serial plan,
    # count, rows, the listed rows' matching messages (why each matched), date
    # range, the access record: never one per row, and the date hierarchy does
    # not run the search again; and the table's size and date range (date
    # windows: admin_speed.date_windows).
    with django_assert_max_num_queries(11):
        response = staff.get(CHANGELIST, {"q": "parcel"})
    assert len(listed(response)) == 41
    # ... and the same plus the table's row estimate without a search.
    with django_assert_max_num_queries(9):
        staff.get(CHANGELIST)


def test_the_sidebar_choices_are_read_once_a_minute_not_once_a_page(
    staff, archive, django_assert_num_queries
):
    staff.get(CHANGELIST, {"q": "parcel"})
    # session, user, the advisers the search names, serial plan, matching
    # ids (and the table's size and date range before them), rows by id,
    # their matching messages, the access record: no closed types, no date range.
    with django_assert_num_queries(9) as queries:
        staff.get(CHANGELIST, {"q": "parcel"})
    assert not any("closed_type >" in q["sql"] for q in queries.captured_queries)


def test_a_changelist_page_loads_only_the_columns_it_shows(
    staff, archive, django_assert_max_num_queries
):
    with django_assert_max_num_queries(9) as queries:
        staff.get(CHANGELIST)
    rows = [q["sql"] for q in queries.captured_queries if '"preview"' in q["sql"]]
    assert rows
    for sql in rows:
        assert '"visitor_context"' not in sql
        assert '"api_key"' not in sql


def test_the_export_action_still_reads_whole_rows(staff, archive):
    response = run_action(staff, "export_ndjson", [archive["jon"]])
    (record,) = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert record["visitor_context"] == archive["jon"].visitor_context


def test_changelist_never_counts_the_whole_table_beside_the_results(staff, archive):
    response = staff.get(CHANGELIST, {"q": "parcel"})
    assert response.context["cl"].show_full_result_count is False


# --- Counting without COUNT(*) ------------------------------------------------------


def test_an_unfiltered_large_table_is_counted_from_the_planner_estimate(
    archive, fresh_planner_statistics
):
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE conversations_conversation")
    paginator = LargeTablePaginator(Conversation.objects.all(), 50)
    paginator.estimate_above = 1
    assert paginator.count == len(archive)  # ANALYZE read every row of this small table
    assert paginator.count_is_estimate


def test_a_filtered_count_stops_at_its_limit(archive):
    paginator = LargeTablePaginator(Conversation.objects.filter(status="closed"), 50)
    paginator.count_limit = 2
    assert paginator.count == 2
    assert paginator.count_is_lower_bound


def test_pages_of_a_filtered_list_are_the_pages_django_gives(archive):
    ordered = Conversation.objects.filter(status="closed").order_by("-opened_at", "-id")
    paginator, djangos = LargeTablePaginator(ordered, 2), Paginator(ordered, 2)
    assert paginator.count == djangos.count
    assert paginator.page_range == djangos.page_range
    for n in djangos.page_range:
        page, expected = paginator.page(n), djangos.page(n)
        assert list(page.object_list) == list(expected.object_list)
        assert (page.start_index(), page.end_index()) == (
            expected.start_index(),
            expected.end_index(),
        )
    assert len(djangos.page_range) > 1  # more than one page was compared


def test_a_search_page_runs_the_search_once(staff, archive, django_assert_num_queries):
    # session, user, closed types, the advisers the search names (see
    # selectors._indexed_matches), serial plan, matching ids (the search),
    # rows by id, the listed rows' matching messages (search_matches), date
    # range, the access record; the table's size and date range (date windows)
    with django_assert_num_queries(11) as queries:
        response = staff.get(CHANGELIST, {"q": "parcel"})
    assert listed(response) == {archive["jon"].pk}
    # The search's own SQL (search_matches reads the listed rows' documents too).
    search = '"conversations_conversation"."transcript_search" @@'
    searches = [q["sql"] for q in queries.captured_queries if search in q["sql"]]
    assert len(searches) == 1, "\n\n".join(searches)


def test_a_page_of_a_longer_list_loads_its_rows_once(
    staff, archive, monkeypatch, django_assert_num_queries
):
    monkeypatch.setattr(site._registry[Conversation], "list_per_page", 2)
    # session, user, closed types, the table's size and date range (date
    # windows), serial plan, matching ids, rows by id, date range, the access record
    with django_assert_num_queries(9) as queries:
        response = staff.get(CHANGELIST, {"status__exact": "closed", "p": 2})
    assert len(listed(response)) == 1
    rows = [q["sql"] for q in queries.captured_queries if '"preview"' in q["sql"]]
    assert len(rows) == 1, "\n\n".join(rows)


def test_the_id_list_is_planned_without_parallel_workers(staff, archive, django_assert_num_queries):
    # with the matching messages, the access record and the table's size and date range
    with django_assert_num_queries(11) as queries:
        staff.get(CHANGELIST, {"q": "parcel"})
    sql = [q["sql"] for q in queries.captured_queries]
    serial = sql.index("SET LOCAL max_parallel_workers_per_gather = 0")
    assert "to_tsquery" in sql[serial + 1]  # the search's id list comes next


@pytest.mark.django_db(transaction=True)  # autocommit, as a request runs
def test_the_serial_plan_ends_with_its_transaction(archive):
    paginator = LargeTablePaginator(Conversation.objects.filter(status="closed"), 50)
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_parallel_workers_per_gather")
        before = cursor.fetchone()[0]
        assert before != "0"
        assert paginator.count == 3
        cursor.execute("SHOW max_parallel_workers_per_gather")
        assert cursor.fetchone()[0] == before


def test_a_small_filtered_count_is_exact(archive):
    paginator = LargeTablePaginator(Conversation.objects.filter(status="closed"), 50)
    assert paginator.count == 3
    assert not paginator.count_is_lower_bound and not paginator.count_is_estimate


# --- Transcript page ----------------------------------------------------------------


def test_transcript_shows_each_message_with_its_side_author_and_time(staff, archive):
    page = staff.get(change_url(archive["jon"])).content.decode()
    customer_line = page.index('class="message message-customer"')
    adviser_line = page.index('class="message message-adviser"')
    assert customer_line < adviser_line  # oldest first
    assert "Where is my parcel?" in page
    assert "It ships tomorrow." in page
    assert '<span class="message-author">Jon Snow</span>' in page
    assert '<span class="message-author">Bob Holmes</span>' in page
    sent_at = archive["jon"].messages.first().sent_at
    assert sent_at.strftime("%Y-%m-%d %H:%M:%S") in page


def test_transcript_escapes_html_in_messages(staff):
    conversation = archive_conversation(
        "cust-xss", [("CUSTOMER", "<script>alert('x')</script><b>bold</b>")]
    )
    page = staff.get(change_url(conversation)).content.decode()
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in page


def test_transcript_page_shows_the_visitor_context_as_a_table(staff):
    conversation = archive_conversation(
        "cust-ctx",
        back_office_data=[
            {"key": "currentPage", "value": "https://shop.example/cart"},
            {"key": "browserName", "value": "<Firefox>"},
        ],
    )
    page = staff.get(change_url(conversation)).content.decode()
    assert '<th scope="row">currentPage</th><td class="wrap">https://shop.example/cart</td>' in page
    assert "&lt;Firefox&gt;" in page


def test_transcript_page_links_the_customer_adviser_and_inbound_events(staff):
    conversation = archive_conversation("cust-links", adviser=BOB, inbound_event_ids=(11, 12))
    page = staff.get(change_url(conversation)).content.decode()
    customer_url = reverse("admin:conversations_customer_change", args=[conversation.customer_id])
    adviser_url = reverse("admin:conversations_adviser_change", args=[conversation.assignee_id])
    assert f'href="{customer_url}"' in page
    assert f'href="{adviser_url}"' in page
    for event_id in (11, 12):
        assert f'href="{reverse("admin:webhooks_inboundevent_change", args=[event_id])}"' in page
    assert "customer_closer_id=cust-links" in page


# --- Read-only archive --------------------------------------------------------------


@pytest.mark.parametrize("model", ["conversation", "customer", "adviser", "conversationevent"])
def test_archive_rows_cannot_be_added_in_admin(staff, model):
    response = staff.get(reverse(f"admin:conversations_{model}_add"))
    assert response.status_code == 403


def test_a_conversation_cannot_be_edited_or_deleted_in_admin(staff, archive):
    conversation = archive["jon"]
    response = staff.post(change_url(conversation), {"status": "open"})
    assert response.status_code == 403
    delete = reverse("admin:conversations_conversation_delete", args=[conversation.pk])
    assert staff.post(delete, {"post": "yes"}).status_code == 403
    conversation.refresh_from_db()
    assert conversation.status == "closed"


def test_the_conversation_page_has_no_save_button(staff, archive):
    page = staff.get(change_url(archive["jon"])).content.decode()
    assert 'name="_save"' not in page


def test_messages_are_not_a_separate_admin(archive):
    from conversations.models import Message

    assert Message not in site._registry


# --- Customers and advisers --------------------------------------------------------


def test_customer_search_finds_by_email_fragment(staff, archive):
    response = staff.get(reverse("admin:conversations_customer_changelist"), {"q": "winterf"})
    assert [c.closer_id for c in response.context["cl"].result_list] == ["cust-jon"]


def test_adviser_search_finds_by_name_without_diacritics(staff, archive):
    response = staff.get(reverse("admin:conversations_adviser_changelist"), {"q": "wasowska"})
    assert [a.closer_id for a in response.context["cl"].result_list] == ["adviser-zofia"]


def test_customer_page_lists_its_conversations(staff, archive):
    customer = archive["jon"].customer
    page = staff.get(
        reverse("admin:conversations_customer_change", args=[customer.pk])
    ).content.decode()
    assert f'href="{change_url(archive["jon"])}"' in page
    assert f"?customer={customer.pk}" in page


def test_adviser_page_lists_its_conversations(staff, archive):
    adviser = archive["lukasz"].assignee
    page = staff.get(
        reverse("admin:conversations_adviser_change", args=[adviser.pk])
    ).content.decode()
    assert f'href="{change_url(archive["lukasz"])}"' in page
    assert f"?adviser={adviser.pk}" in page


# --- Export actions ----------------------------------------------------------------


def run_action(client, action, conversations):
    return client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [c.pk for c in conversations]},
    )


def test_export_action_streams_selected_conversations_as_ndjson(staff, archive):
    response = run_action(staff, "export_ndjson", [archive["jon"], archive["lukasz"]])
    assert response["Content-Type"] == "application/x-ndjson"
    assert "attachment" in response["Content-Disposition"]
    lines = b"".join(response.streaming_content).decode().splitlines()
    records = [json.loads(line) for line in lines]
    assert {r["id"] for r in records} == {archive["jon"].pk, archive["lukasz"].pk}
    jon = next(r for r in records if r["id"] == archive["jon"].pk)
    assert [m["text"] for m in jon["messages"]] == ["Where is my parcel?", "It ships tomorrow."]


def test_export_action_streams_messages_of_selected_conversations_as_csv(staff, archive):
    response = run_action(staff, "export_messages_csv", [archive["lukasz"]])
    assert response["Content-Type"].startswith("text/csv")
    rows = b"".join(response.streaming_content).decode().splitlines()
    assert rows[0].startswith("message_id,conversation_id")
    assert len(rows) == 2
    assert "Chcę złożyć reklamację" in rows[1]
