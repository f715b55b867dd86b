"""Admin of the way in: endpoints with write-only secrets, the inbound-event inbox."""

import json

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from webhooks.models import EventSource, EventStatus, InboundEvent, WebhookEndpoint, hash_token

pytestmark = pytest.mark.django_db

ENDPOINTS = reverse("admin:webhooks_webhookendpoint_changelist")
EVENTS = reverse("admin:webhooks_inboundevent_changelist")


def inbound(endpoint=None, **fields):
    defaults = {
        "source": EventSource.WEBHOOK,
        "dedupe_key": f"key-{InboundEvent.objects.count()}",
        "event_type": "ThreadClosedEvent",
        "raw_body": b'{"eventType": "ThreadClosedEvent", "customer": {"id": "c-1"}}',
        "status": EventStatus.PROCESSED,
    }
    return InboundEvent.objects.create(endpoint=endpoint, **{**defaults, **fields})


def listed(response):
    return {row.pk for row in response.context["cl"].result_list}


# --- Endpoints ---------------------------------------------------------------------


def add_endpoint(client, name="closer", **flags):
    return client.post(
        reverse("admin:webhooks_webhookendpoint_add"),
        {
            "name": name,
            "is_active": "on",
            "allowed_api_keys": "[]",
            "signature_header": "X-Signature-256",
            **flags,
        },
    )


def shown_credentials(response):
    page = response.content.decode()
    found = {}
    for kind in ("url", "hmac", "standard-webhooks"):
        marker = f'data-credential="{kind}">'
        if marker in page:
            start = page.index(marker) + len(marker)
            found[kind] = page[start : page.index("</code>", start)]
    return found


def test_creating_an_endpoint_shows_its_url_and_secrets_once(admin_client):
    response = add_endpoint(admin_client, require_hmac="on", require_standard_webhooks="on")
    assert response.status_code == 200
    shown = shown_credentials(response)
    endpoint = WebhookEndpoint.objects.get(name="closer")
    token = shown["url"].rsplit("/closer/", 1)[1].rstrip("/")
    assert endpoint.token_hash == hash_token(token)
    assert endpoint.hmac_secrets == [shown["hmac"]]
    assert endpoint.standard_webhooks_secrets == [shown["standard-webhooks"]]
    assert shown["standard-webhooks"].startswith("whsec_")
    assert "no-cache" in response["Cache-Control"]


def test_secrets_are_never_shown_again(admin_client):
    shown = shown_credentials(add_endpoint(admin_client, require_hmac="on"))
    endpoint = WebhookEndpoint.objects.get()
    pages = [
        admin_client.get(ENDPOINTS),
        admin_client.get(reverse("admin:webhooks_webhookendpoint_change", args=[endpoint.pk])),
        admin_client.get(reverse("admin:webhooks_webhookendpoint_history", args=[endpoint.pk])),
    ]
    for page in pages:
        assert shown["hmac"] not in page.content.decode()
        assert shown["url"] not in page.content.decode()
    assert "HMAC (1 secret(s))" in pages[1].content.decode()
    logged = " ".join(entry.change_message for entry in LogEntry.objects.all())
    assert shown["hmac"] not in logged


def test_an_endpoint_without_signing_needs_only_its_url(admin_client):
    shown = shown_credentials(add_endpoint(admin_client))
    assert set(shown) == {"url"}
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.hmac_secrets == [] and endpoint.standard_webhooks_secrets == []


def test_a_duplicate_endpoint_name_is_a_form_error(admin_client, make_endpoint):
    make_endpoint("closer")
    response = add_endpoint(admin_client, "closer")
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert WebhookEndpoint.objects.count() == 1


def run_action(client, action, objects, url=ENDPOINTS):
    return client.post(url, {"action": action, "_selected_action": [o.pk for o in objects]})


def test_deactivate_action_turns_endpoints_off(admin_client, make_endpoint):
    endpoint, _ = make_endpoint()
    run_action(admin_client, "deactivate", [endpoint])
    endpoint.refresh_from_db()
    assert not endpoint.is_active


def test_rotating_the_token_retires_the_old_url(admin_client, make_endpoint):
    endpoint, old_token = make_endpoint()
    shown = shown_credentials(run_action(admin_client, "rotate_token", [endpoint]))
    endpoint.refresh_from_db()
    assert endpoint.token_hash != hash_token(old_token)
    assert shown["url"].endswith(f"/webhooks/closer/{shown['url'].rsplit('/', 2)[1]}/")
    assert endpoint.token_hash == hash_token(shown["url"].rsplit("/", 2)[1])


def test_rotating_secrets_keeps_the_previous_one_until_dropped(admin_client, make_endpoint):
    endpoint, _ = make_endpoint(hmac_secrets=["old-secret"])
    shown = shown_credentials(run_action(admin_client, "rotate_secrets", [endpoint]))
    endpoint.refresh_from_db()
    assert endpoint.hmac_secrets == [shown["hmac"], "old-secret"]
    run_action(admin_client, "drop_previous_secrets", [endpoint])
    endpoint.refresh_from_db()
    assert endpoint.hmac_secrets == [shown["hmac"]]


def test_rotating_secrets_of_an_unsigned_endpoint_adds_none(admin_client, make_endpoint):
    endpoint, _ = make_endpoint()
    response = run_action(admin_client, "rotate_secrets", [endpoint])
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.hmac_secrets == [] and endpoint.standard_webhooks_secrets == []


# --- Inbound events ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status__exact": "failed"}, {"failed"}),
        ({"type": "ThreadCreatedEvent"}, {"created"}),
        ({"type": "conversation.closed"}, {"alias"}),
        ({"type": "other"}, {"unknown"}),
        ({"source__exact": "backfill"}, {"backfill"}),
    ],
)
def test_inbound_event_filter(admin_client, params, expected):
    events = {
        "processed": inbound(),
        "failed": inbound(status=EventStatus.FAILED),
        "created": inbound(event_type="ThreadCreatedEvent"),
        "unknown": inbound(event_type="SomethingNewEvent", status=EventStatus.SKIPPED),
        "alias": inbound(event_type="conversation.closed"),
        "backfill": inbound(source=EventSource.BACKFILL),
    }
    response = admin_client.get(EVENTS, params)
    assert listed(response) == {events[name].pk for name in expected}


def test_the_event_type_filter_offers_every_archived_type_and_its_alias(admin_client):
    response = admin_client.get(EVENTS)

    changelist = response.context["cl"]
    event_type = next(spec for spec in changelist.filter_specs if spec.title == "event type")
    choices = {choice["display"] for choice in event_type.choices(changelist)}
    for name in (
        "ThreadCreatedEvent",
        "ThreadClosedEvent",
        "conversation.created",
        "conversation.closed",
    ):
        assert name in choices


def test_inbound_events_filter_by_endpoint(admin_client, make_endpoint):
    mine, _ = make_endpoint("mine")
    theirs, _ = make_endpoint("theirs")
    event = inbound(mine)
    inbound(theirs)
    assert listed(admin_client.get(EVENTS, {"endpoint__id__exact": mine.pk})) == {event.pk}


def test_inbound_event_page_pretty_prints_the_body_and_shows_the_error(admin_client):
    event = inbound(status=EventStatus.DEAD, last_error="ValueError: <boom>")
    page = admin_client.get(
        reverse("admin:webhooks_inboundevent_change", args=[event.pk])
    ).content.decode()
    pretty = json.dumps(json.loads(bytes(event.raw_body)), indent=2)
    assert pretty.replace('"', "&quot;") in page
    assert "ValueError: &lt;boom&gt;" in page


def test_a_body_that_is_not_json_is_shown_as_received(admin_client):
    event = inbound(status=EventStatus.REJECTED, raw_body=b'{"customer": <b>}')
    page = admin_client.get(
        reverse("admin:webhooks_inboundevent_change", args=[event.pk])
    ).content.decode()
    assert "{&quot;customer&quot;: &lt;b&gt;}" in page


def test_reprocess_action_requeues_failed_dead_and_rejected_events(admin_client):
    retryable = [
        inbound(status=EventStatus.FAILED, attempts=2),
        inbound(status=EventStatus.DEAD, attempts=5),
        inbound(status=EventStatus.REJECTED),
    ]
    done = inbound(status=EventStatus.PROCESSED)
    response = run_action(admin_client, "reprocess", [*retryable, done], url=EVENTS)
    assert response.status_code == 302
    for event in retryable:
        event.refresh_from_db()
        assert (event.status, event.attempts) == (EventStatus.RECEIVED, 0)
    done.refresh_from_db()
    assert done.status == EventStatus.PROCESSED


def test_inbound_events_cannot_be_added_edited_or_deleted(admin_client):
    event = inbound()
    assert admin_client.get(reverse("admin:webhooks_inboundevent_add")).status_code == 403
    response = admin_client.post(
        reverse("admin:webhooks_inboundevent_change", args=[event.pk]), {"status": "dead"}
    )
    assert response.status_code == 403
    delete = reverse("admin:webhooks_inboundevent_delete", args=[event.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert InboundEvent.objects.filter(pk=event.pk).exists()


def test_inbound_event_search_finds_a_customers_events(admin_client):
    event = inbound(customer_closer_id="c-42")
    inbound(customer_closer_id="c-43")
    assert listed(admin_client.get(EVENTS, {"q": "c-42"})) == {event.pk}
    assert listed(admin_client.get(EVENTS, {"q": str(event.pk)})) == {event.pk}


def test_a_rotated_url_is_shown_on_the_address_the_admin_is_reached_at(
    admin_client, make_endpoint, settings
):
    settings.PUBLIC_BASE_URL = ""
    endpoint, _ = make_endpoint()

    response = admin_client.post(
        ENDPOINTS,
        {"action": "rotate_token", "_selected_action": [endpoint.pk]},
        HTTP_HOST="localhost:8123",
    )

    assert shown_credentials(response)["url"].startswith("http://localhost:8123/webhooks/closer/")


def test_a_rotated_url_is_shown_on_public_base_url_when_it_is_set(
    admin_client, make_endpoint, settings
):
    settings.PUBLIC_BASE_URL = "https://archive.example.com"
    endpoint, _ = make_endpoint()

    response = run_action(admin_client, "rotate_token", [endpoint])

    assert shown_credentials(response)["url"].startswith("https://archive.example.com/webhooks/")
