"""The Celery application; tasks are discovered in each Django app.

Workers and beat log through the project's ``LOGGING`` (its format and its
redaction filter) instead of Celery's own: connecting ``setup_logging`` tells
Celery to leave the root logger's handlers alone.
"""

import logging.config
import os
from typing import Any

from celery import Celery, signals
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "closerarchive.settings")

app = Celery("closerarchive")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# setup_logging: Celery's own set-up step (worker and beat). celeryd_init
# comes earlier in a worker, before the root-privileges check that warns.
@signals.setup_logging.connect
@signals.celeryd_init.connect
def use_project_logging(**kwargs: Any) -> None:
    """Apply the settings' LOGGING in a worker or beat process. Its level comes
    from LOG_LEVEL, as for the web processes; ``--loglevel`` is not used.
    Python warnings (Celery warns a root worker at start-up) go through it as
    well, as Django arranges for web processes, so a JSON log stays all JSON."""
    logging.config.dictConfig(settings.LOGGING)
    logging.captureWarnings(True)
