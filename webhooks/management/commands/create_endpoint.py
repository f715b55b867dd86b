import base64
import json
import secrets
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError
from django.urls import reverse

from webhooks.models import WebhookEndpoint


def new_hmac_secret() -> str:
    return secrets.token_hex(32)


def new_standard_webhooks_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class Command(BaseCommand):
    help = "Create a webhook endpoint and print its URL and new secret(s), once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="A unique name, e.g. the widget or organisation.")
        parser.add_argument("--hmac", action="store_true", help="Require an HMAC-SHA256 signature.")
        parser.add_argument(
            "--standard-webhooks",
            action="store_true",
            help="Require Standard Webhooks signatures (webhook-id/-timestamp/-signature).",
        )
        parser.add_argument(
            "--api-key",
            action="append",
            default=[],
            metavar="KEY",
            help="Accept only events whose customer.apiKey is KEY (repeatable).",
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args: Any, **options: Any) -> None:
        endpoint = WebhookEndpoint(name=options["name"], allowed_api_keys=options["api_key"])
        token = endpoint.set_token()
        hmac_secret = new_hmac_secret() if options["hmac"] else None
        sw_secret = new_standard_webhooks_secret() if options["standard_webhooks"] else None
        endpoint.hmac_secrets = [hmac_secret] if hmac_secret else []
        endpoint.standard_webhooks_secrets = [sw_secret] if sw_secret else []
        try:
            endpoint.save()
        except IntegrityError:
            raise CommandError(f"an endpoint named {options['name']!r} already exists") from None
        url = settings.PUBLIC_BASE_URL + reverse("webhooks:closer", args=[token])
        result = {
            "name": endpoint.name,
            "url": url,
            "token": token,
            "hmac_secret": hmac_secret,
            "standard_webhooks_secret": sw_secret,
        }
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        self.stdout.write(
            f"Endpoint {endpoint.name!r} created. Keep these; they are not shown again."
        )
        self.stdout.write(f"  URL:                      {url}")
        if hmac_secret:
            self.stdout.write(f"  HMAC secret:              {hmac_secret}")
            self.stdout.write(f"  signature header:         {endpoint.signature_header}")
        if sw_secret:
            self.stdout.write(f"  Standard Webhooks secret: {sw_secret}")
        if endpoint.allowed_api_keys:
            self.stdout.write(f"  allowed apiKeys:          {', '.join(endpoint.allowed_api_keys)}")
