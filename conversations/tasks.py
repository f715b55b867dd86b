"""Celery tasks of the archive."""

from celery import shared_task

from .insights.store import refresh_rollups


@shared_task(name="conversations.refresh_insights")
def refresh_insights() -> int:
    """Run by Celery beat (CELERY_BEAT_SCHEDULE): recompute the Insights
    roll-ups of pending hours, so the pending list stays short even when
    nobody opens the page; return how many hours were recomputed."""
    return refresh_rollups()
