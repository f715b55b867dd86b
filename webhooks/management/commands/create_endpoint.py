import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError

from webhooks.endpoints import set_up_endpoint
from webhooks.models import WebhookEndpoint


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
        parser.add_argument(
            "--base-url",
            metavar="URL",
            help="where this server is reached (e.g. http://127.0.0.1:8123), for the printed URL;"
            " PUBLIC_BASE_URL wins when set (default: http://127.0.0.1:8000)",
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args: Any, **options: Any) -> None:
        endpoint = WebhookEndpoint(name=options["name"], allowed_api_keys=options["api_key"])
        try:
            issued = set_up_endpoint(
                endpoint=endpoint,
                hmac=options["hmac"],
                standard_webhooks=options["standard_webhooks"],
            )
        except IntegrityError:
            raise CommandError(f"an endpoint named {options['name']!r} already exists") from None
        issued = issued.seen_at(options["base_url"]) if options["base_url"] else issued
        result = {
            "name": endpoint.name,
            "url": issued.url,
            "token": issued.token,
            "hmac_secret": issued.hmac_secret,
            "standard_webhooks_secret": issued.standard_webhooks_secret,
        }
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        self.stdout.write(
            f"Endpoint {endpoint.name!r} created. Keep these; they are not shown again."
        )
        self.stdout.write(f"  URL:                      {issued.url}")
        if issued.hmac_secret:
            self.stdout.write(f"  HMAC secret:              {issued.hmac_secret}")
            self.stdout.write(f"  signature header:         {endpoint.signature_header}")
        if issued.standard_webhooks_secret:
            self.stdout.write(f"  Standard Webhooks secret: {issued.standard_webhooks_secret}")
        if endpoint.allowed_api_keys:
            self.stdout.write(f"  allowed apiKeys:          {', '.join(endpoint.allowed_api_keys)}")
