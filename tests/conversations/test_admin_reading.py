"""Reading a conversation in the admin: titles, dates, icons, the year links,
the transcript downloads and the permalink that survives re-pairing."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from conversations.admin_transcript import permalink_path
from conversations.models import Conversation, ConversationEvent
from conversations.services import IncomingEvent, apply_events, erase_customer_rows
from tests.builders import closed_event, created_event, message
from tests.inbox import stored
from tests.search_archive import BOT, archive_conversation, archive_jon_snow

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:conversations_conversation_changelist")
# "2023-11-14 22:13 UTC": the admin's one date format, with the zone named.
ADMIN_MINUTE = r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"


def change_url(conversation):
    return reverse("admin:conversations_conversation_change", args=[conversation.pk])


def text_url(conversation):
    return reverse("admin:conversations_conversation_transcript_text", args=[conversation.pk])


def html_url(conversation):
    return reverse("admin:conversations_conversation_transcript_html", args=[conversation.pk])


@pytest.fixture
def staff(admin_client):
    return admin_client


@pytest.fixture
def jon():
    return archive_jon_snow()


@pytest.fixture
def viewer(client, django_user_model):
    """Staff who may see conversations and nothing else."""
    user = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_conversation"))
    client.force_login(user)
    return client


@pytest.fixture
def staff_without_conversations(client, django_user_model):
    user = django_user_model.objects.create_user("other-staff", password="x", is_staff=True)
    client.force_login(user)
    return client


# --- Titles, icons and dates ------------------------------------------------------


def test_the_page_title_names_the_customer_and_the_date_not_database_ids(staff, jon):
    page = staff.get(change_url(jon)).content.decode()
    title = f"Conversation with Jon Snow on {jon.opened_at:%Y-%m-%d} (closed)"
    assert f"<title>{title} |" in page
    assert f"with {jon.customer_id} " not in page


def test_a_title_cuts_a_name_of_thousands_of_characters(jon):
    jon.customer.first_name = "W" * 3000
    assert len(str(jon)) < 150


def test_a_received_created_event_reads_received_with_its_time_not_a_red_cross(staff, jon):
    page = staff.get(change_url(jon)).content.decode()
    field = page[page.index("field-created_event") :][:2000]
    assert re.search(r"Received, \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC", field)
    assert "icon-no" not in field


def test_a_missing_created_event_reads_missing(staff):
    conversation = archive_conversation("cust-anon", adviser=BOT, with_created=False)
    page = staff.get(change_url(conversation)).content.decode()
    assert "Missing: never received" in page


def test_the_created_event_filter_offers_received_and_missing(staff, jon):
    page = staff.get(CHANGELIST).content.decode()
    assert "By created event" in page
    assert 'href="?created_event_missing__exact=0"' in page
    assert re.search(r'created_event_missing__exact=0"[^>]*>\s*Received', page)
    assert re.search(r'created_event_missing__exact=1"[^>]*>\s*Missing', page)


def test_the_conversation_page_names_the_time_zone_of_every_time(staff, jon):
    page = staff.get(change_url(jon)).content.decode()
    assert f"{jon.opened_at:%Y-%m-%d %H:%M} UTC" in page  # the opened field
    sent_at = jon.messages.first().sent_at
    assert f">{sent_at:%Y-%m-%d %H:%M:%S} UTC</time>" in page


def test_the_building_events_show_their_times_not_epoch_milliseconds(staff):
    conversation = archive_conversation("cust-events", inbound_event_ids=(21, 22))
    page = staff.get(change_url(conversation)).content.decode()
    events = page[page.index('id="inbound-events"') :][:1500]
    assert re.search(r"conversation\.created at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC", events)
    assert str(conversation.created_event_ms) not in events


def test_a_conversation_event_shows_its_time_not_epoch_milliseconds(staff, jon):
    event = ConversationEvent.objects.get(customer=jon.customer, kind="closed")
    changelist = staff.get(reverse("admin:conversations_conversationevent_changelist"))
    page = staff.get(
        reverse("admin:conversations_conversationevent_change", args=[event.pk])
    ).content.decode()
    for html in (changelist.content.decode(), page):
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC", html)
        assert str(event.occurred_ms) not in html


def test_the_inbound_events_list_uses_the_same_date_format(staff):
    stored({"eventType": "ThreadCreatedEvent"})
    page = staff.get(reverse("admin:webhooks_inboundevent_changelist")).content.decode()
    assert re.search(rf'<td class="field-received_at[^"]*">{ADMIN_MINUTE}</td>', page)


def test_view_site_leads_to_the_landing_page(staff):
    page = staff.get(reverse("admin:index")).content.decode()
    assert '<a href="/">View site</a>' in page
    assert staff.get("/").status_code == 200


def test_the_date_hierarchy_reads_its_years_in_one_query_then_from_the_cache(
    staff, jon, django_assert_max_num_queries
):
    with django_assert_max_num_queries(20) as queries:
        staff.get(CHANGELIST)
    assert sum("make_timestamptz" in q["sql"] for q in queries.captured_queries) == 1
    with django_assert_max_num_queries(20) as queries:
        staff.get(CHANGELIST)
    assert not any("make_timestamptz" in q["sql"] for q in queries.captured_queries)


# --- Downloads -----------------------------------------------------------------------


def test_the_text_download_is_the_whole_transcript_with_times_and_names(staff, jon):
    response = staff.get(text_url(jon))
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    text = response.content.decode()
    assert text.startswith(f"{jon}\n")
    assert "Customer:  Jon Snow (Frosty Wolf), jon.snow@winterfell.com" in text
    assert "Adviser:   Bob Holmes, bob@closer.app" in text
    first, second = jon.messages.order_by("sent_at")
    assert f"{first.sent_at:%Y-%m-%d %H:%M:%S} UTC  Jon Snow\n    Where is my parcel?" in text
    assert f"{second.sent_at:%Y-%m-%d %H:%M:%S} UTC  Bob Holmes\n    It ships tomorrow." in text
    assert f"Permalink: http://testserver{permalink_path(jon)}" in text


def test_a_download_is_named_after_the_conversation_customer_and_day(staff, jon):
    response = staff.get(text_url(jon))
    expected = f"conversation-{jon.pk}-jon-snow-{jon.opened_at:%Y-%m-%d}.txt"
    assert response["Content-Disposition"] == f'attachment; filename="{expected}"'


def test_the_html_download_is_one_self_contained_escaped_page(staff):
    conversation = archive_conversation(
        "cust-xss",
        [("CUSTOMER", "<script>alert(1)</script><img src=x onerror=alert(2)>")],
        first_name="<b>Eve</b>",
    )
    response = staff.get(html_url(conversation))
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response["Content-Disposition"].endswith('.html"')
    page = response.content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in page
    assert "&lt;b&gt;Eve&lt;/b&gt;" in page
    assert "<style>" in page
    for fetched in ("<script", "<link", "<img", "url(", "@import"):
        assert fetched not in page
    assert not re.search(r"<[^>]*\s(src|href)=", page)


def test_a_download_of_an_unknown_conversation_is_not_found(staff):
    response = staff.get(
        reverse("admin:conversations_conversation_transcript_text", args=[999_999])
    )
    assert response.status_code == 404


def test_downloads_need_the_permission_to_view_conversations(staff_without_conversations, jon):
    assert staff_without_conversations.get(text_url(jon)).status_code == 403


def test_staff_who_may_view_conversations_may_download_them(viewer, jon):
    assert viewer.get(html_url(jon)).status_code == 200


# --- Permalinks -------------------------------------------------------------------


def test_the_conversation_page_shows_its_permalink(staff, jon):
    page = staff.get(change_url(jon)).content.decode()
    assert f'href="http://testserver{permalink_path(jon)}"' in page


def test_a_permalink_leads_to_the_conversation(staff, jon):
    response = staff.get(permalink_path(jon))
    assert response.status_code == 302
    assert response["Location"] == change_url(jon)


def test_a_permalink_survives_re_pairing(staff):
    # Open: only its created event; the link names that event.
    apply_events([IncomingEvent(created_event("cust-repair", 1_700_000_000_000), None)])
    opened = Conversation.objects.get(customer__closer_id="cust-repair")
    link = permalink_path(opened)
    # The closed event pairs with it: the row is re-keyed (a new id).
    history = [message("CUSTOMER", "Still there?", 1_700_000_001_000, author_id="cust-repair")]
    apply_events([IncomingEvent(closed_event("cust-repair", 1_700_000_060_000, history), None)])
    closed = Conversation.objects.get(customer__closer_id="cust-repair")
    assert closed.pk != opened.pk  # the database id of the old link is gone

    response = staff.get(link, follow=True)
    assert response.redirect_chain[-1][0] == change_url(closed)
    page = response.content.decode()
    assert "Still there?" in page
    assert f"made for conversation {opened.pk}, which has since been re-paired" in page


def test_a_permalink_to_an_erased_customer_says_so(staff, jon):
    link = permalink_path(jon)
    erase_customer_rows(closer_id="cust-jon")
    response = staff.get(link)
    assert response.status_code == 404
    assert "Its customer was erased from the archive." in response.content.decode()


@pytest.mark.parametrize("token", ["not-a-token", "W10", "WyJjbG9zZWQiLCJ4IiwieCIsMV0", "x" * 3000])
def test_a_malformed_permalink_is_a_clear_not_found(staff, token):
    response = staff.get(reverse("conversation-permalink", args=[token]))
    assert response.status_code == 404
    assert "This is not a link to a conversation." in response.content.decode()


def test_a_permalink_works_for_a_customer_id_with_any_characters(staff):
    conversation = archive_conversation("team/42?x=ü#1")
    response = staff.get(permalink_path(conversation))
    assert response["Location"] == change_url(conversation)


def test_a_permalink_sends_visitors_to_log_in(client, jon):
    response = client.get(permalink_path(jon))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_a_permalink_needs_the_permission_to_view_conversations(staff_without_conversations, jon):
    assert staff_without_conversations.get(permalink_path(jon)).status_code == 403


def test_an_erasure_takes_its_years_out_of_the_year_links_at_once(
    staff, jon, django_capture_on_commit_callbacks
):
    early = archive_conversation("cust-early")
    Conversation.objects.filter(pk=early.pk).update(opened_at=early.opened_at.replace(year=2019))
    assert "?opened_at__year=2019" in staff.get(CHANGELIST).content.decode()  # now cached

    with django_capture_on_commit_callbacks(execute=True):
        erase_customer_rows(closer_id="cust-early")

    assert "?opened_at__year=2019" not in staff.get(CHANGELIST).content.decode()
