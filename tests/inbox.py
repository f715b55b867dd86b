"""Inbound events put straight into the inbox, as the receive view would."""

import hashlib
import json
from typing import Any

from webhooks.models import EventSource, InboundEvent


def stored(payload: dict[str, Any], **fields: Any) -> InboundEvent:
    """A webhook event already stored (status ``received`` unless given)."""
    body = json.dumps(payload).encode()
    return InboundEvent.objects.create(
        source=EventSource.WEBHOOK,
        # Unique per body and per the fields given, like a real dedupe key.
        dedupe_key=f"test:{hashlib.sha256(body).hexdigest()}:{sorted(fields.items())}"[:200],
        event_type=payload.get("eventType", ""),
        raw_body=body,
        **fields,
    )
