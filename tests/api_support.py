"""Helpers for the REST API and export tests: users, clients, an archive."""

from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.cache import cache
from django.db.models import Model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from conversations.models import Conversation
from conversations.services import IncomingEvent, apply_events
from tests.builders import closed_event, created_event, message


def user_with_view_permissions(*models: type[Model], **fields: Any) -> User:
    user = User.objects.create_user(username=fields.pop("username", "reader"), **fields)
    codenames = [f"view_{model._meta.model_name}" for model in models]
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def token_client(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def ms(when: str) -> int:
    """Epoch milliseconds of an ISO 8601 UTC time."""
    return int(datetime.fromisoformat(when).replace(tzinfo=UTC).timestamp() * 1000)


def closed_conversation(
    customer_id: str,
    closed_at: str,
    *,
    opened_at: str | None = None,
    texts: tuple[str, ...] = ("Hello", "Hi!"),
    adviser_id: str = "adviser-1",
    adviser_email: str = "bob.holmes@closer.app",
    adviser_is_bot: bool = False,
    closed_type: str = "solved",
    **customer: Any,
) -> Conversation:
    """Archive one closed conversation (through the normaliser) and return it."""
    closed_ms = ms(closed_at)
    history = [
        message(
            "CUSTOMER" if i % 2 == 0 else "ADVISER",
            text,
            closed_ms - 1000 * (len(texts) - i),
            author_id=customer_id if i % 2 == 0 else adviser_id,
        )
        for i, text in enumerate(texts)
    ]
    closed = closed_event(
        customer_id, closed_ms, history, closed_type=closed_type, adviser_id=adviser_id, **customer
    )
    closed["assignee"]["email"] = adviser_email
    closed["assignee"]["isBot"] = adviser_is_bot
    events = [closed]
    if opened_at is not None:
        events.insert(0, created_event(customer_id, ms(opened_at), **customer))
    apply_events([IncomingEvent(payload=event) for event in events])
    return Conversation.objects.get(customer__closer_id=customer_id, closed_event_ms=closed_ms)


def open_conversation(customer_id: str, opened_at: str, **customer: Any) -> Conversation:
    apply_events([IncomingEvent(payload=created_event(customer_id, ms(opened_at), **customer))])
    return Conversation.objects.get(customer__closer_id=customer_id, created_event_ms=ms(opened_at))


def ids(response: Any) -> list[int]:
    return [row["id"] for row in response.json()["results"]]


def superuser(username: str = "root") -> User:
    # No password: hashing one costs the suite ~0.5 s per user.
    return User.objects.create_superuser(username, password=None)


@pytest.fixture(name="client")
def superuser_token_client() -> APIClient:
    """The API as a superuser with a token; throttle counters start at zero."""
    cache.clear()
    return token_client(superuser())
