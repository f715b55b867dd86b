from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        # Registers the Celery tasks in every process, web ones included:
        # the outbox sends them by name, and runs them eagerly without a broker.
        from . import tasks  # noqa: F401
