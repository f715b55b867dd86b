"""First-run setup for `make run` and `make up`: an admin login, a demo
endpoint and data, and where to find them."""

import json
import secrets
from pathlib import Path
from typing import Any

from axes.utils import reset as reset_login_failures
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.urls import reverse

from conversations.services import IncomingEvent, apply_events
from webhooks.endpoints import public_base_url
from webhooks.models import WebhookEndpoint

DEMO_EVENTS = Path(__file__).resolve().parents[2] / "demo" / "events.json"
CURL_EXAMPLE = Path(__file__).resolve().parents[2] / "demo" / "closed-event.json"


class Command(BaseCommand):
    help = "Create (or refresh) the admin login, a demo endpoint and demo conversations."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")
        parser.add_argument(
            "--webhook-port", help="the webhooks pool's port, when it is not --port (make up)"
        )
        parser.add_argument(
            "--stack", action="store_true", help="also list make up's processes (the Procfile)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        password = secrets.token_urlsafe(12)
        user_model = get_user_model()
        user, _ = user_model.objects.get_or_create(
            username=options["username"], defaults={"email": "admin@example.com"}
        )
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        # The new password must work at once, even after a lockout (django-axes).
        reset_login_failures(username=user.get_username())

        endpoint = WebhookEndpoint.objects.filter(name="demo").first() or WebhookEndpoint(
            name="demo"
        )
        token = endpoint.set_token()  # tokens are stored hashed: a new one each run
        endpoint.save()

        events = json.loads(DEMO_EVENTS.read_text())
        result = apply_events([IncomingEvent(payload=event) for event in events])

        example = CURL_EXAMPLE
        if example.is_relative_to(Path.cwd()):
            example = example.relative_to(Path.cwd())
        # The address served (make run's PORT), unless PUBLIC_BASE_URL names another.
        served = f"http://{options['host']}:{options['port']}"
        webhooks_served = f"http://{options['host']}:{options['webhook_port'] or options['port']}"
        base, webhooks_base = public_base_url(served), public_base_url(webhooks_served)
        url = webhooks_base + reverse("webhooks:closer", args=[token])
        self.stdout.write(
            self.style.SUCCESS("closer-archive is ready.")
            + f"""
  Admin:     {base}/admin/
  Login:     {user.get_username()} / {password}
  Webhook:   {url}
  Demo data: {len(events)} events, {result.new_conversations} new conversations
{self._stack_lines(base, served, webhooks_served) if options["stack"] else ""}

Send a conversation.closed event:
  curl -i -X POST -H 'Content-Type: application/json' \\
       --data-binary @{example} \\
       {url}
"""
        )

    def _stack_lines(self, base: str, served: str, webhooks_served: str) -> str:
        # The processes at the addresses they listen on, whatever the public base.
        return f"""  API:       {base}/api/v1/ (Swagger UI: {base}/api/docs/)
  Processes (Procfile, under honcho; Ctrl-C stops them all):
    web       {served}  gunicorn, gthread workers: admin, API, static files
    webhooks  {webhooks_served}  gunicorn, sync workers: POST /webhooks/closer/<token>/
    worker    celery worker: processes the stored events
    beat      celery beat: the sweep every SWEEP_INTERVAL_SECONDS
"""
