"""The dedupe key of an inbound event: one definition for webhooks and the backfill.

``webhook-id`` when the sender gives one, else the SHA-256 of the payload's
canonical JSON, so a retried delivery and a backfilled copy of the same
body find the same key (the inbox's unique constraints do the rest).
"""

from collections.abc import Mapping
from typing import Any

from . import digests
from .canonical import canonical_json

# webhook-id values longer than this are cut (the column holds 200 characters).
WEBHOOK_ID_MAX_LENGTH = 180


def dedupe_key_for(*, payload: Any, headers: Mapping[str, str], finite: bool = False) -> str:
    """The key of a delivery (``finite``: see ``canonical_json``)."""
    message_id = headers.get("webhook-id")
    if message_id:
        return "webhook-id:" + message_id[:WEBHOOK_ID_MAX_LENGTH]
    return canonical_key(canonical_json(payload, finite=finite))


def canonical_key(canonical: bytes) -> str:
    """The dedupe key of a payload whose ``canonical_json`` is ``canonical``."""
    return "sha256:" + digests.sha256(canonical).hexdigest()


def raw_body_key(body: bytes) -> str:
    """The key of a body that is not JSON (kept as ``rejected``)."""
    return "sha256-raw:" + digests.sha256(body).hexdigest()
