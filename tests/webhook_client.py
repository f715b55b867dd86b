"""Posting webhooks through Django's test client, signed as a sender would."""

import json
import time
from typing import Any

from django.test import Client
from django.urls import reverse

from webhooks.signatures import sign_hmac_sha256, sign_standard_webhooks


def webhook_url(token: str) -> str:
    return reverse("webhooks:closer", args=[token])


def as_body(payload: Any) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


def post(
    client: Client,
    token: str,
    payload: Any,
    *,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> Any:
    return client.generic(
        "POST", webhook_url(token), as_body(payload), content_type=content_type, headers=headers
    )


def hmac_headers(secret: str, body: bytes, header: str = "X-Signature-256") -> dict[str, str]:
    return {header: sign_hmac_sha256(secret=secret, body=body)}


def standard_headers(
    secret: str, body: bytes, *, message_id: str = "msg_1", sent_at: int | None = None
) -> dict[str, str]:
    timestamp = int(time.time()) if sent_at is None else sent_at
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign_standard_webhooks(
            secret=secret, message_id=message_id, timestamp=timestamp, body=body
        ),
    }
