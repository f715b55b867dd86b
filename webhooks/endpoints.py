"""Endpoint credentials: issue and rotate URL tokens and signing secrets.

A new token or secret is returned once, to be shown once; only the token's
hash is stored, and secrets are never listed or logged.
"""

import base64
import secrets
from dataclasses import dataclass, replace

from django.conf import settings
from django.db import transaction
from django.urls import reverse

from .models import WebhookEndpoint

# Where webhook URLs point when neither PUBLIC_BASE_URL nor the address in use
# (a request's, or setup_demo's --host/--port) says otherwise: `make run`'s.
DEFAULT_BASE_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class IssuedCredentials:
    """What to show the operator once. ``None``: unchanged or not configured."""

    endpoint: WebhookEndpoint
    token: str | None = None
    hmac_secret: str | None = None
    standard_webhooks_secret: str | None = None
    # The address the operator is using (e.g. the admin's, from its request).
    base_url: str | None = None

    @property
    def url(self) -> str | None:
        return endpoint_url(self.token, base_url=self.base_url) if self.token else None

    def seen_at(self, base_url: str) -> "IssuedCredentials":
        """The same credentials, their URL on ``base_url`` unless
        PUBLIC_BASE_URL names the public address."""
        return replace(self, base_url=base_url)


def public_base_url(base_url: str | None = None) -> str:
    """PUBLIC_BASE_URL when it is set; else ``base_url`` (the address in use),
    else the default: so printed URLs follow `make run PORT=...`."""
    return (settings.PUBLIC_BASE_URL or base_url or DEFAULT_BASE_URL).rstrip("/")


def endpoint_url(token: str, *, base_url: str | None = None) -> str:
    return public_base_url(base_url) + reverse("webhooks:closer", args=[token])


def new_hmac_secret() -> str:
    return secrets.token_hex(32)


def new_standard_webhooks_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def set_up_endpoint(
    *, endpoint: WebhookEndpoint, hmac: bool, standard_webhooks: bool
) -> IssuedCredentials:
    """Give an unsaved endpoint its URL token and the chosen secrets; save it."""
    token = endpoint.set_token()
    hmac_secret = new_hmac_secret() if hmac else None
    sw_secret = new_standard_webhooks_secret() if standard_webhooks else None
    endpoint.hmac_secrets = [hmac_secret] if hmac_secret else []
    endpoint.standard_webhooks_secrets = [sw_secret] if sw_secret else []
    endpoint.save()
    return IssuedCredentials(endpoint, token, hmac_secret, sw_secret)


def rotate_token(*, endpoint: WebhookEndpoint) -> IssuedCredentials:
    """A new URL token; the old URL stops working at once."""
    token = endpoint.set_token()
    endpoint.save(update_fields=["token_hash", "token_hint"])
    return IssuedCredentials(endpoint, token=token)


@transaction.atomic
def rotate_secrets(*, endpoint: WebhookEndpoint) -> IssuedCredentials:
    """A new secret for each signature scheme the endpoint uses.

    The newest previous secret stays valid beside it, so the sender can
    switch without losing deliveries; ``drop_previous_secrets`` ends that.
    """
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    hmac_secret = new_hmac_secret() if endpoint.hmac_secrets else None
    sw_secret = new_standard_webhooks_secret() if endpoint.standard_webhooks_secrets else None
    if hmac_secret:
        endpoint.hmac_secrets = [hmac_secret, endpoint.hmac_secrets[0]]
    if sw_secret:
        endpoint.standard_webhooks_secrets = [sw_secret, endpoint.standard_webhooks_secrets[0]]
    endpoint.save(update_fields=["hmac_secrets", "standard_webhooks_secrets"])
    return IssuedCredentials(endpoint, hmac_secret=hmac_secret, standard_webhooks_secret=sw_secret)


def drop_previous_secrets(*, endpoint: WebhookEndpoint) -> None:
    """Keep only the newest secret of each scheme: the rotation is over."""
    endpoint.hmac_secrets = endpoint.hmac_secrets[:1]
    endpoint.standard_webhooks_secrets = endpoint.standard_webhooks_secrets[:1]
    endpoint.save(update_fields=["hmac_secrets", "standard_webhooks_secrets"])
