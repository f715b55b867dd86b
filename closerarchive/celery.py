"""The Celery application; tasks are discovered in each Django app."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "closerarchive.settings")

app = Celery("closerarchive")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
