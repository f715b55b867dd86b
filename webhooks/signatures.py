"""Signature checks for the receive view. Every comparison is constant-time."""

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping

from .digests import hmac_sha256


class SignatureError(Exception):
    """Verification failed; the message is safe to return to the sender.

    ``reason`` is a short fixed code for metrics (the message may grow
    details; a metric label must not)."""

    def __init__(self, message: str, *, reason: str = "bad_signature") -> None:
        super().__init__(message)
        self.reason = reason


def verify_hmac_sha256(*, body: bytes, header_value: str | None, secrets: Iterable[str]) -> None:
    """GitHub-style: hex HMAC-SHA256 of the raw body, ``sha256=`` prefix optional."""
    if not header_value:
        raise SignatureError("signature header missing", reason="signature_missing")
    received = header_value.strip()
    if received.lower().startswith("sha256="):
        received = received[len("sha256=") :]
    received = received.lower()
    matched = False
    for secret in secrets:
        expected = hmac_sha256(secret.encode(), body).hexdigest()
        # No early exit: every configured secret is compared. Bytes, because
        # compare_digest refuses str with non-ASCII characters (a 500 found
        # by tests/webhooks/test_fuzz_receive.py).
        matched |= hmac.compare_digest(expected.encode(), received.encode("utf-8", "surrogatepass"))
    if not matched:
        raise SignatureError("signature does not match")


def _standard_webhooks_key(secret: str) -> bytes:
    encoded = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(
            "endpoint secret is not valid base64", reason="bad_endpoint_secret"
        ) from None


def verify_standard_webhooks(
    *,
    body: bytes,
    headers: Mapping[str, str],
    secrets: Iterable[str],
    tolerance_seconds: int,
    now: float | None = None,
) -> None:
    """Standard Webhooks (standardwebhooks.com): ``webhook-id``,
    ``webhook-timestamp`` and ``webhook-signature`` (space-separated
    ``v1,<base64>`` entries, several while keys rotate)."""
    message_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signature_header = headers.get("webhook-signature")
    if not message_id or not timestamp or not signature_header:
        raise SignatureError(
            "webhook-id, webhook-timestamp and webhook-signature are required",
            reason="signature_missing",
        )
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise SignatureError(
            "webhook-timestamp is not an integer", reason="bad_timestamp"
        ) from None
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance_seconds:
        raise SignatureError("webhook-timestamp is outside the tolerance", reason="bad_timestamp")
    signed = f"{message_id}.{sent_at}.".encode() + body
    received = []
    for entry in signature_header.split():
        version, _, value = entry.partition(",")
        if version == "v1" and value:
            received.append(value.encode())
    matched = False
    for secret in secrets:
        expected = base64.b64encode(hmac_sha256(_standard_webhooks_key(secret), signed).digest())
        for candidate in received:
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureError("no webhook-signature matches")


def sign_standard_webhooks(*, secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value a sender would compute (tests, demos)."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_standard_webhooks_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def sign_hmac_sha256(*, secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
