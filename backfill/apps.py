from django.apps import AppConfig


class BackfillConfig(AppConfig):
    name = "backfill"
    verbose_name = "Backfill"

    def ready(self) -> None:
        # The backfill's counters, registered in every process: /metrics
        # lists them (at 0) even where no backfill ran.
        from . import metrics  # noqa: F401
